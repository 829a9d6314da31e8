"""The speculative final decode (:mod:`voicebot.speculation`) through the real ear of a call:
Silero VAD, Whisper tiny.en and the turn machine on a virtual clock
(:func:`voicebot.replay.listen.listen`), on the espeak recordings of tests/audio.

The recogniser is the real Whisper engine, wrapped only to record which streams were
decoded (no fake)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from voicebot.asr import AsrEngine, load_engine
from voicebot.audio.vad import VadConfig
from voicebot.config import load_settings, section_to
from voicebot.events import ExpectedInput
from voicebot.line import Int16Array
from voicebot.replay.listen import Listened, listen
from voicebot.session_config import SessionConfig
from voicebot.turns import TurnConfig

pytestmark = pytest.mark.slow

AUDIO = Path(__file__).resolve().parent / "audio"


@dataclass
class Recorded:
    """One stream the session opened: how many accept() calls fed it, whether finished."""

    accepts: int = 0
    finished: bool = False
    audio: list[Int16Array] = field(default_factory=list)


@dataclass
class CountingRecognizer:
    """The real engine; each stream it opens is recorded in ``streams``."""

    engine: AsrEngine
    streams: list[Recorded] = field(default_factory=list)

    def open_stream(
        self, expect: ExpectedInput = "free", *, sample_rate: int = 8000, length: int | None = None
    ) -> Any:
        inner = self.engine.open_stream(expect, sample_rate=sample_rate, length=length)
        record = Recorded()
        self.streams.append(record)

        class Stream:
            def accept(self, samples: Int16Array) -> str | None:
                record.accepts += 1
                record.audio.append(np.array(samples, dtype=np.int16))
                return inner.accept(samples)  # type: ignore[no-any-return]

            def finish(self) -> Any:
                record.finished = True
                return inner.finish()

            def preview(self) -> Any:
                return inner.preview()

        return Stream()


@pytest.fixture(scope="module")
def engine() -> AsrEngine:
    return load_engine(load_settings())


def speech(name: str, lead_s: float = 0.2) -> Int16Array:
    """The recording from ``lead_s`` before its speech (20 ms frames > -40 dBFS: a quiet onset
    such as the "h" of "hi" is below that, and Whisper hears "I will..." without it) to the
    end of its speech."""
    audio, rate = sf.read(str(AUDIO / name), dtype="int16")
    assert rate == 8000
    frames = audio[: len(audio) // 160 * 160].reshape(-1, 160).astype(np.float64)
    level = 20 * np.log10(np.sqrt((frames**2).mean(axis=1)) / 32768 + 1e-9)
    loud = np.flatnonzero(level > -40)
    start = max(0, loud[0] * 160 - int(lead_s * rate))
    return np.asarray(audio[start : (loud[-1] + 1) * 160], dtype=np.int16)


def hear(recognizer: Any, audio: Int16Array, **session: float) -> Listened:
    settings = load_settings()
    cfg = replace(section_to(SessionConfig, settings, "session"), **session)
    return asyncio.run(
        listen(
            audio,
            "free",
            None,
            recognizer,
            vad=section_to(VadConfig, settings, "vad"),
            turns=section_to(TurnConfig, settings, "turns"),
            session=cfg,
        )
    )


def test_the_endpoint_uses_the_decode_started_at_the_pause(engine: AsrEngine) -> None:
    counting = CountingRecognizer(engine)
    got = hear(counting, speech("hours_us_male/01.wav"), speculative_decode_ms=64.0)
    assert [t.turn.text for t in got.turns] == ["Hi, what time are you open on Saturday?"]
    assert got.turns[0].endpoint_ms >= 150  # the endpoint silence itself is unchanged
    live = [s for s in counting.streams if s.accepts > 1]  # fed frame by frame
    early = [s for s in counting.streams if s.accepts == 1]  # a copy, at a pause
    assert len(live) == 1 and not live[0].finished  # no decode after the endpoint
    assert early and all(s.finished for s in early)
    again = hear(CountingRecognizer(engine), speech("hours_us_male/01.wav"))
    assert [t.turn.text for t in again.turns] == [got.turns[0].turn.text]  # deterministic


def test_speech_after_a_short_pause_discards_the_early_decode(engine: AsrEngine) -> None:
    # 240 ms of digital silence: Silero's score decays over the first ~100 ms, so this is a
    # pause of over 64 ms but under the 200 ms endpoint (320 ms splits the turn in two)
    gap = np.zeros(int(0.24 * 8000), np.int16)
    audio = np.concatenate(
        [speech("hours_us_male/01.wav"), gap, speech("hours_us_male/02.wav", 0.0)]
    )
    counting = CountingRecognizer(engine)
    got = hear(counting, audio, speculative_decode_ms=64.0)
    assert len(got.turns) == 1
    words = got.turns[0].turn.text.lower()
    assert "saturday" in words and "goodbye" in words  # the whole turn, not its first part
    early = [s for s in counting.streams if s.accepts == 1]
    assert len(early) >= 2  # one at the gap (discarded), one at the end (used)


def test_off_decodes_at_the_endpoint_as_before(engine: AsrEngine) -> None:
    counting = CountingRecognizer(engine)
    got = hear(counting, speech("hours_us_male/01.wav"), speculative_decode_ms=0.0)
    assert len(got.turns) == 1 and "saturday" in got.turns[0].turn.text.lower()
    assert len(counting.streams) == 1 and counting.streams[0].finished


def test_the_early_decode_hears_the_lines_own_silence_not_zeros(engine: AsrEngine) -> None:
    # a line with hiss: the early decode stands in the pause's silence, repeated, for the rest
    # of the endpoint silence (digital zeros made Whisper tiny.en hear such turns differently)
    rng = np.random.default_rng(7)
    clean = np.concatenate([speech("hours_us_male/01.wav"), np.zeros(8000, np.int16)])
    audio = np.clip(clean + rng.normal(0, 300, clean.size), -32768, 32767).astype(np.int16)
    counting = CountingRecognizer(engine)
    got = hear(counting, audio, speculative_decode_ms=64.0)
    assert len(got.turns) == 1 and "saturday" in got.turns[0].turn.text.lower()
    early = [s for s in counting.streams if s.accepts == 1]
    assert early and early[-1].finished
    heard = early[-1].audio[0]
    settings = load_settings()
    vad = section_to(VadConfig, settings, "vad")
    frame = 256  # Silero's frame at 8 kHz
    pause = max(1, round(64.0 / 32.0)) * frame
    rest = (round(vad.end_silence_ms / 32.0) - 1) * frame - pause
    assert rest > 0
    tail, before = heard[-rest:], heard[-rest - pause : -rest]
    assert np.array_equal(tail, np.resize(before, rest))  # the pause's silence, repeated
    assert 200 < float(np.sqrt(np.mean(tail.astype(np.float64) ** 2))) < 450  # the hiss
