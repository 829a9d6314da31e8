"""Loading every audio format phones and QA have, channel picking, resampling, bad files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voicebot.audio import codecs
from voicebot.audio.wavio import AudioConfig, load_audio, load_caller_audio, pick_channel, write_wav
from voicebot.config import load_settings, section_to
from voicebot.errors import AudioError

RATE = 8000
FSDD = "audio/fsdd/recordings/3_nicolas_7.wav"


def tone(seconds: float = 0.5, rate: int = RATE, freq: float = 440.0, amp: float = 0.4):
    t = np.arange(int(seconds * rate)) / rate
    return (amp * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


@pytest.fixture()
def speech(eval_dir: Path) -> np.ndarray:
    """A real 8 kHz spoken digit (fsdd), read with soundfile directly as the reference."""
    data, rate = sf.read(eval_dir / FSDD, dtype="int16")
    assert rate == RATE
    return data


def test_pcm16_wav_loads_unchanged(tmp_path, speech):
    path = tmp_path / "caller.wav"
    sf.write(path, speech, RATE, subtype="PCM_16")
    audio = load_audio(path)
    assert np.array_equal(audio.samples, speech)
    assert (audio.rate, audio.source_rate, audio.encoding) == (RATE, RATE, "WAV/PCM_16")
    assert audio.duration_s == pytest.approx(len(speech) / RATE)


def test_real_eval_recording_loads(eval_dir):
    audio = load_audio(eval_dir / FSDD)
    assert audio.samples.dtype == np.int16 and 0.2 < audio.duration_s < 1.5
    assert np.abs(audio.samples).max() > 1000  # real speech, not silence


def test_pcm8_wav_is_scaled_to_16_bit(tmp_path):
    x = tone()
    path = tmp_path / "pcm8.wav"
    sf.write(path, x, RATE, subtype="PCM_U8")
    audio = load_audio(path)
    assert audio.encoding == "WAV/PCM_U8"
    # 8-bit keeps the top byte: within one 8-bit step of the original
    assert np.max(np.abs(audio.samples.astype(int) - x.astype(int))) <= 256


def test_float_wav_is_converted_and_clipped(tmp_path):
    x = np.array([0.0, 0.5, -0.5, 1.5, -1.5, np.nan], dtype=np.float32)
    path = tmp_path / "float.wav"
    sf.write(path, x, RATE, subtype="FLOAT")
    audio = load_audio(path)
    assert audio.samples.tolist() == [0, 16384, -16384, 32767, -32768, 0]
    assert "non-finite samples replaced by 0" in audio.notes


@pytest.mark.parametrize(("encoding", "subtype"), [("ulaw", "ULAW"), ("alaw", "ALAW")])
def test_g711_wav_written_here_is_itu_exact_and_reads_back(tmp_path, speech, encoding, subtype):
    path = write_wav(tmp_path / f"{encoding}.wav", speech, RATE, encoding)
    info = sf.info(path)
    assert (info.subtype, info.samplerate, info.channels) == (subtype, RATE, 1)
    enc = codecs.ulaw_encode if encoding == "ulaw" else codecs.alaw_encode
    dec = codecs.ulaw_decode if encoding == "ulaw" else codecs.alaw_decode
    payload = enc(speech)
    assert path.read_bytes().find(payload) > 0  # the data chunk holds the ITU bytes
    audio = load_audio(path)
    assert np.array_equal(audio.samples, dec(payload))
    assert audio.encoding == f"WAV/{subtype}"


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox not installed")
@pytest.mark.parametrize("sox_encoding", ["u-law", "a-law"])
def test_g711_wav_from_sox_loads(tmp_path, speech, sox_encoding):
    src = tmp_path / "src.wav"
    sf.write(src, speech, RATE, subtype="PCM_16")
    dst = tmp_path / "sox.wav"
    subprocess.run(["sox", str(src), "-e", sox_encoding, "-b", "8", str(dst)], check=True)
    audio = load_audio(dst)
    assert len(audio.samples) == len(speech)
    corr = np.corrcoef(audio.samples.astype(float), speech.astype(float))[0, 1]
    assert corr > 0.99


@pytest.mark.parametrize(
    ("suffix", "encode"),
    [
        (".ulaw", codecs.ulaw_encode),
        (".ul", codecs.ulaw_encode),
        (".pcmu", codecs.ulaw_encode),
        (".alaw", codecs.alaw_encode),
        (".al", codecs.alaw_encode),
        (".sln", codecs.pcm16_to_bytes),
    ],
)
def test_raw_telephony_files_load_at_8khz(tmp_path, speech, suffix, encode):
    path = tmp_path / f"caller{suffix}"
    path.write_bytes(encode(speech))
    audio = load_audio(path, rate=16000)
    assert audio.source_rate == RATE and audio.rate == 16000
    assert len(audio.samples) == 2 * len(speech)
    assert audio.encoding.startswith("raw/")


@pytest.mark.parametrize("src_rate", [11025, 16000, 22050, 44100, 48000])
def test_any_rate_is_resampled_to_the_target(tmp_path, src_rate):
    x = tone(1.0, src_rate, 1000.0)
    path = tmp_path / f"r{src_rate}.wav"
    sf.write(path, x, src_rate, subtype="PCM_16")
    audio = load_audio(path, rate=RATE)
    assert audio.rate == RATE and audio.source_rate == src_rate
    assert len(audio.samples) == RATE
    spectrum = np.abs(np.fft.rfft(audio.samples.astype(float)))
    assert np.argmax(spectrum) == pytest.approx(1000, abs=2)  # 1 Hz bins over 1 s
    assert f"resampled {src_rate} -> {RATE} Hz" in audio.notes


def _stereo(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    n = max(len(left), len(right))
    out = np.zeros((n, 2), dtype=np.int16)
    out[: len(left), 0] = left
    out[: len(right), 1] = right
    return out


def test_stereo_picks_the_channel_with_more_speech(tmp_path, speech):
    rng = np.random.default_rng(1)
    pad = np.zeros(RATE // 2, np.int16)
    caller = np.concatenate([pad, speech, pad])
    hiss = (rng.standard_normal(len(caller)) * 300).astype(np.int16)  # steady line noise
    path = tmp_path / "stereo.wav"
    sf.write(path, _stereo(hiss, caller + hiss // 3), RATE, subtype="PCM_16")
    audio = load_audio(path)
    assert audio.channel == 1 and audio.source_channels == 2
    assert "channel 1 of 2 picked by speech energy" in audio.notes
    assert np.array_equal(load_audio(path, channel=0).samples, hiss)
    # the configured channel wins over the energy pick
    assert load_caller_audio(path, AudioConfig(channel=0)).channel == 0


def test_stereo_tie_and_silence_choose_channel_zero(tmp_path, speech):
    assert pick_channel(_stereo(speech, speech), RATE) == 0
    assert pick_channel(np.zeros((8000, 2), np.int16), RATE) == 0
    # a louder but steady noise does not count as speech
    rng = np.random.default_rng(2)
    pad = np.zeros(RATE // 2, np.int16)
    caller = np.concatenate([pad, speech // 4, pad])
    noise = (rng.standard_normal(len(caller)) * 3000).astype(np.int16)
    assert pick_channel(_stereo(caller, noise), RATE) == 0
    assert pick_channel(_stereo(noise, caller), RATE) == 1


def test_missing_channel_is_an_audio_error(tmp_path, speech):
    path = tmp_path / "mono.wav"
    sf.write(path, speech, RATE)
    with pytest.raises(
        AudioError, match=r"mono\.wav: has 1 channel\(s\); channel 1 does not exist"
    ):
        load_audio(path, channel=1)


def test_audio_settings_section():
    cfg = section_to(AudioConfig, load_settings(), "audio")
    assert cfg == AudioConfig(line_rate=8000, channel=None)


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("empty.wav", b"", "empty file"),
        ("empty.ulaw", b"", "empty file"),
        ("garbage.wav", bytes(range(256)) * 4, "not a readable audio file"),
        ("notes.wav", b"this is a text file, not audio\n" * 10, "not a readable audio file"),
        ("truncated.wav", b"RIFF\x24\x00\x00\x00WAVEfmt ", "not a readable audio file"),
        ("mystery.mp9", b"\x00\x01\x02\x03" * 100, "not a readable audio file"),
        ("odd.sln", b"\x01\x02\x03", "odd number of bytes"),
    ],
)
def test_bad_files_are_clear_audio_errors(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(AudioError) as info:
        load_audio(path)
    assert str(path) in str(info.value) and problem in str(info.value)
    assert info.value.code == "audio-invalid"


def test_zero_length_wav_is_an_audio_error(tmp_path):
    path = tmp_path / "zero.wav"
    sf.write(path, np.zeros(0, np.int16), RATE, subtype="PCM_16")
    assert path.stat().st_size > 0  # a valid header with no samples
    with pytest.raises(AudioError, match="no audio samples"):
        load_audio(path)


def test_missing_file_and_folder_are_audio_errors(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        load_audio(tmp_path / "nope.wav")
    with pytest.raises(AudioError, match="not a regular file"):
        load_audio(tmp_path)


def test_write_wav_pcm16_round_trip_and_bad_rate(tmp_path, speech):
    path = write_wav(tmp_path / "out" / "bot.wav", speech, RATE)
    assert sf.info(path).subtype == "PCM_16"
    assert np.array_equal(load_audio(path).samples, speech)
    with pytest.raises(AudioError, match="sample rate must be positive"):
        write_wav(tmp_path / "bad.wav", speech, 0)
