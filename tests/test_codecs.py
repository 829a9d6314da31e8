"""G.711 codecs bit-exact against CPython's audioop; resampling rates, lengths and streaming."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from voicebot.audio import codecs
from voicebot.audio.resample import (
    StreamResampler,
    resample,
    resampled_length,
    to_float32,
    to_int16,
)
from voicebot.errors import AudioError

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # stdlib until 3.13: the reference implementation

ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int16)
ALL_BYTES = bytes(range(256))


def test_ulaw_encode_matches_audioop_for_every_16_bit_sample():
    ref = audioop.lin2ulaw(ALL_SAMPLES.astype("<i2").tobytes(), 2)
    assert codecs.ulaw_encode(ALL_SAMPLES) == ref


def test_alaw_encode_matches_audioop_for_every_16_bit_sample():
    ref = audioop.lin2alaw(ALL_SAMPLES.astype("<i2").tobytes(), 2)
    assert codecs.alaw_encode(ALL_SAMPLES) == ref


def test_ulaw_and_alaw_decode_match_audioop_for_every_byte():
    assert codecs.ulaw_decode(ALL_BYTES).astype("<i2").tobytes() == audioop.ulaw2lin(ALL_BYTES, 2)
    assert codecs.alaw_decode(ALL_BYTES).astype("<i2").tobytes() == audioop.alaw2lin(ALL_BYTES, 2)


def test_silence_bytes_and_round_trip_error_is_bounded():
    assert codecs.ulaw_encode(np.zeros(3, np.int16)) == bytes([codecs.ULAW_SILENCE]) * 3
    assert codecs.alaw_encode(np.zeros(3, np.int16)) == bytes([codecs.ALAW_SILENCE]) * 3
    x = ALL_SAMPLES.astype(np.int32)
    for enc, dec in [
        (codecs.ulaw_encode, codecs.ulaw_decode),
        (codecs.alaw_encode, codecs.alaw_decode),
    ]:
        y = dec(enc(ALL_SAMPLES)).astype(np.int32)
        # G.711 keeps under 4 % relative error for loud samples, a few LSB for quiet ones
        inside = np.abs(x) <= 32124  # µ-law's largest value; beyond it, it clips
        assert np.all(np.abs(y - x)[inside] <= np.maximum(0.036 * np.abs(x), 40)[inside])
        assert np.all(np.abs(y) <= 32767)
        # decoding the encoded decoded value is stable (idempotent quantisation)
        assert np.array_equal(dec(enc(y.astype(np.int16))), y.astype(np.int16))


def test_decode_accepts_numpy_bytes_and_encode_by_codec_name():
    data = codecs.encode(np.array([0, 1000, -1000], np.int16), "PCMU")
    assert np.array_equal(
        codecs.decode(data, "pcmu"), codecs.ulaw_decode(np.frombuffer(data, np.uint8))
    )
    assert codecs.decode(codecs.encode(np.array([1, -2], np.int16), "l16"), "l16").tolist() == [
        1,
        -2,
    ]
    with pytest.raises(AudioError, match="unknown audio codec 'opus'"):
        codecs.encode(np.zeros(1, np.int16), "opus")


def test_pcm16_bytes_round_trip_and_truncated_data():
    x = np.array([0, 1, -1, 32767, -32768], np.int16)
    raw = codecs.pcm16_to_bytes(x)
    assert raw == b"\x00\x00\x01\x00\xff\xff\xff\x7f\x00\x80"
    assert np.array_equal(codecs.pcm16_from_bytes(raw), x)
    assert codecs.pcm16_from_bytes(b"\x01\x00", big_endian=True).tolist() == [256]
    with pytest.raises(AudioError, match="odd number of bytes"):
        codecs.pcm16_from_bytes(raw[:-1])


@pytest.mark.parametrize(
    ("src", "dst"), [(8000, 16000), (16000, 8000), (22050, 8000), (8000, 22050), (44100, 16000)]
)
def test_resample_rate_length_and_tone_frequency(src, dst):
    n = src  # one second
    t = np.arange(n) / src
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t) * 32767).astype(np.int16)
    y = resample(tone, src, dst)
    assert y.dtype == np.int16
    assert len(y) == resampled_length(n, src, dst) == dst
    spectrum = np.abs(np.fft.rfft(y[dst // 10 : -dst // 10].astype(float)))
    freq = np.argmax(spectrum) * dst / (len(y) - 2 * (dst // 10))
    assert abs(freq - 1000) < 5
    rms_in = np.sqrt(np.mean(tone.astype(float) ** 2))
    rms_out = np.sqrt(np.mean(y[dst // 10 : -dst // 10].astype(float) ** 2))
    assert abs(20 * np.log10(rms_out / rms_in)) < 0.5


def test_downsampling_removes_content_above_the_new_nyquist():
    src, dst = 22050, 8000
    t = np.arange(src) / src
    alias = (0.5 * np.sin(2 * np.pi * 6000 * t) * 32767).astype(np.int16)  # > 4 kHz
    y = resample(alias, src, dst)
    assert np.sqrt(np.mean(y[800:-800].astype(float) ** 2)) < 0.01 * 0.5 * 32767 / np.sqrt(2)


def test_float_conversions_and_clipping():
    assert to_float32(np.array([-32768, 0, 16384], np.int16)).tolist() == [-1.0, 0.0, 0.5]
    assert to_int16(np.array([-2.0, -1.0, 0.5, 1.0, np.nan])).tolist() == [
        -32768,
        -32768,
        16384,
        32767,
        0,
    ]
    f = resample(np.zeros(100, np.float32), 8000, 16000)
    assert f.dtype == np.float32 and len(f) == 200
    with pytest.raises(AudioError, match="positive"):
        resample(np.zeros(10, np.int16), 0, 8000)


@pytest.mark.parametrize(("src", "dst"), [(8000, 16000), (16000, 8000), (22050, 8000)])
def test_stream_resampler_matches_whole_signal(src, dst):
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(src) * 4000).astype(np.int16)
    whole = resample(x, src, dst)
    r = StreamResampler(src, dst)
    parts = []
    for start in range(0, len(x), src // 50):  # 20 ms chunks, as the line delivers them
        parts.append(r.process(x[start : start + src // 50]))
    parts.append(r.flush())
    streamed = np.concatenate(parts)
    assert len(streamed) == len(whole)
    assert np.max(np.abs(streamed.astype(int) - whole.astype(int))) <= 1
    assert r.delay_samples * 1000 / src < 25  # ms
