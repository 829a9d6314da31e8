"""Piper TTS with the packaged en_US joe voice (real model, loaded once per module)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from voicebot.config import load_settings
from voicebot.errors import ModelError
from voicebot.tts import PiperSpeaker, tts_config
from voicebot.tts.cache import AudioCache, cache_key

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def speaker(tmp_path_factory: pytest.TempPathFactory) -> PiperSpeaker:
    cfg = tts_config(load_settings())
    return PiperSpeaker(cfg, cache_dir=tmp_path_factory.mktemp("tts-cache"))


def test_output_is_int16_at_the_line_rate_with_plausible_length(speaker: PiperSpeaker) -> None:
    pcm = speaker.speak("Thank you for calling.")
    assert speaker.sample_rate == 8000 and speaker.voice_rate == 22050
    assert pcm.dtype == np.int16
    assert 0.6 < pcm.size / 8000 < 3.0  # four words
    assert np.abs(pcm).max() > 8000  # not silence
    # resampled, not relabelled: speech energy sits below 2 kHz at the 8 kHz rate
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64)))
    assert spectrum[: spectrum.size // 2].sum() > 2 * spectrum[spectrum.size // 2 :].sum()


def test_sentence_by_sentence_chunks(speaker: PiperSpeaker) -> None:
    chunks = list(
        speaker.synthesize(
            "Hello there. Your bill is ready! Is there anything else?", use_cache=False
        )
    )
    assert [c.index for c in chunks] == [0, 1, 2]
    assert [c.text for c in chunks] == [
        "Hello there.",
        "Your bill is ready!",
        "Is there anything else?",
    ]
    assert all(c.pcm.size > 0.3 * 8000 and not c.cached for c in chunks)
    # a generator: the first chunk is available before the rest is synthesized
    gen = speaker.synthesize("One. Two. Three.", use_cache=False)
    first = next(gen)
    assert first.text == "One." and first.duration < 1.5


def test_cache_hit_in_memory_and_on_disk(speaker: PiperSpeaker) -> None:
    text = "Please hold while I transfer you."
    first = list(speaker.synthesize(text))
    again = list(speaker.synthesize(text))
    assert not first[0].cached and again[0].cached
    assert np.array_equal(first[0].pcm, again[0].pcm)
    folder = speaker.cache.folder
    assert folder is not None and any(folder.glob("*.npy"))
    fresh = AudioCache(folder)  # a new process: memory empty, disk copy still there
    key = cache_key(first[0].text, speaker._voice_id, 8000, speaker._variant)
    hit = fresh.get(key)
    assert hit is not None and np.array_equal(hit, first[0].pcm) and fresh.hits == 1
    assert cache_key(text, "voice", 8000) != cache_key(text, "voice", 16000)


def test_account_numbers_are_read_digit_by_digit(speaker: PiperSpeaker) -> None:
    chunks = list(speaker.synthesize("Your account is 40712395.", use_cache=False))
    spoken = " ".join(c.text for c in chunks)
    assert "4 zero 7 1, 2 3 9 5" in spoken
    # eight digits read one by one take far longer than "forty million..." would
    assert sum(c.duration for c in chunks) > 3.0


def test_missing_voice_is_a_model_error_with_a_hint(tmp_path: Path) -> None:
    cfg = replace(tts_config(load_settings()), voice=str(tmp_path / "nope.onnx"))
    with pytest.raises(ModelError) as err:
        PiperSpeaker(cfg)
    assert "not found" in err.value.message and "tts.voice" in (err.value.hint or "")


def test_broken_voice_is_a_model_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx model")
    (tmp_path / "bad.onnx.json").write_text("{}")
    cfg = replace(tts_config(load_settings()), voice=str(bad))
    with pytest.raises(ModelError) as err:
        PiperSpeaker(cfg)
    assert "cannot load the Piper voice" in err.value.message and err.value.hint
