"""``asr.whisper_workers``: Whisper decodes on several model replicas at once hear what one
replica hears, and a setting below 1 is a clear ConfigError.

Real components: the packaged Whisper tiny.en (CTranslate2 int8) and recordings from
tests/audio, decoded from 4 threads at once (as the speech service's decode pool does)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import soundfile as sf

from voicebot.asr import create_engine
from voicebot.asr.audio import resample_float, to_float
from voicebot.asr.config import AsrConfig
from voicebot.errors import ConfigError

AUDIO = Path(__file__).resolve().parent / "audio"
CLIPS = ["hours_us_male/01.wav", "silence_then_request/02.wav", "sales_route/01.wav"]


def clips() -> list:
    out = []
    for name in CLIPS:
        audio, rate = sf.read(str(AUDIO / name), dtype="int16")
        out.append(resample_float(to_float(audio), rate, 16000))
    return out


def test_two_replicas_hear_what_one_model_hears() -> None:
    audio = clips() * 2
    one = create_engine(AsrConfig(whisper_threads=2, whisper_workers=1))
    two = create_engine(AsrConfig(whisper_threads=1, whisper_workers=2))
    expected = [one.decode(a, "free")[0] for a in audio]  # type: ignore[attr-defined]
    assert all(text.strip() for text in expected)
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda a: two.decode(a, "free")[0], audio))  # type: ignore[attr-defined]
    assert got == expected


def test_no_worker_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as err:
        create_engine(AsrConfig(whisper_workers=0))
    assert "whisper_workers" in str(err.value)
