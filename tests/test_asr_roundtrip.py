"""Round trip at the phone rate: Piper speaks at 8 kHz, Whisper hears it."""

from __future__ import annotations

import re

import pytest

from voicebot.asr import AsrEngine, asr_config, create_engine
from voicebot.config import load_settings
from voicebot.tts import PiperSpeaker, tts_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[PiperSpeaker, AsrEngine]:
    settings = load_settings()
    speaker = PiperSpeaker(tts_config(settings), cache_dir=tmp_path_factory.mktemp("tts"))
    return speaker, create_engine(asr_config(settings))


def words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def test_sentence_survives_8khz_round_trip(pair: tuple[PiperSpeaker, AsrEngine]) -> None:
    speaker, asr = pair
    said = "I would like to speak to someone about my electricity bill."
    pcm = speaker.speak(said)
    assert speaker.sample_rate == 8000
    heard = asr.transcribe(pcm, "free", sample_rate=8000)
    assert words(heard.text) == words(said)
    assert heard.confidence > 0.6


def test_account_number_read_digit_by_digit_is_heard_as_digits(
    pair: tuple[PiperSpeaker, AsrEngine],
) -> None:
    speaker, asr = pair
    pcm = speaker.speak("40712395")  # normalization reads it digit by digit
    heard = asr.transcribe(pcm, "digits")
    assert heard.text == "40712395"
    assert len(heard.words) == 8


def test_money_and_time_are_spoken_as_words(pair: tuple[PiperSpeaker, AsrEngine]) -> None:
    speaker, asr = pair
    time_heard = asr.transcribe(speaker.speak("We open at 08:00."), "free").text.lower()
    assert re.search(r"\b(8|eight)\s?a\.?\s?m\b", time_heard), time_heard  # "eight a m"
    money = asr.transcribe(speaker.speak("You owe £42.50."), "free").text.lower()
    # Piper's timing varies a little from run to run, and Whisper writes what it heard as
    # "42 pounds 50" or "£42.50": either way the pounds were spoken as words
    assert any(heard in money for heard in ("42 pounds 50", "forty two pounds", "£42.50")), money
