"""One caller answer through the real ear of a call on a virtual clock, without the dialog.

:func:`listen` plays caller audio into :class:`voicebot.hearing.Hearing` (VAD -> ASR) and
the :class:`voicebot.turns.TurnTaker` turn machine exactly as a call session feeds them
(20 ms frames, a Tick after each), right after the bot asked its question, and returns
the caller turns and NoInput events that came out. Benchmarks and tests of endpointing
use it (bench/digit_gaps.py); a whole call with the dialog is :mod:`voicebot.replay.runner`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from voicebot.audio.vad import SpeechDetector, VadConfig
from voicebot.events import ExpectedInput, ExpectInput, NoInput, PlaybackFinished, Tick, UserTurn
from voicebot.hearing import Hearing
from voicebot.line import Int16Array
from voicebot.session_config import SessionConfig
from voicebot.stages import Recognizer
from voicebot.turns import TurnConfig, TurnTaker


@dataclass(frozen=True)
class HeardTurn:
    """A caller turn and how its speech ended.

    Attributes:
        turn: the turn machine's output.
        endpoint_ms: decision time - end of the caller's last speech frame (virtual), ms.
        asr_ms: wall time of the decode that gave the final transcript, ms.
        early: ended at a short pause because the whole number was heard.
        groups: speech segments (groups of a number) joined into it.
    """

    turn: UserTurn
    endpoint_ms: float
    asr_ms: float
    early: bool
    groups: int


@dataclass
class Listened:
    """What :func:`listen` saw: caller turns, and NoInput events (with their times, s)."""

    turns: list[HeardTurn] = field(default_factory=list)
    no_inputs: list[float] = field(default_factory=list)


async def listen(
    audio: Int16Array,
    expect: ExpectedInput,
    length: int | None,
    recognizer: Recognizer,
    *,
    vad: VadConfig,
    turns: TurnConfig,
    session: SessionConfig,
    rate: int = 8000,
    lead_s: float = 0.512,
    tail_s: float = 6.0,
    frame_ms: float = 20.0,
) -> Listened:
    """Play ``audio`` (int16 at ``rate`` Hz) as the answer to a question that expects
    ``expect`` (``length``: digits asked for), starting ``lead_s`` after the bot stopped
    speaking and followed by ``tail_s`` of silence; what came out."""
    hearing = Hearing(SpeechDetector(vad, rate), recognizer, rate, session)
    taker = TurnTaker(turns)
    hearing.listen_for(expect, length)
    taker.handle(ExpectInput(0.0, expect, length))
    taker.handle(PlaybackFinished(0.0))
    line = np.concatenate(
        [np.zeros(int(lead_s * rate), np.int16), audio, np.zeros(int(tail_s * rate), np.int16)]
    )
    frame = int(rate * frame_ms / 1000)
    got = Listened()
    for pos in range(0, len(line), frame):
        outs = []
        async for event in hearing.hear(line[pos : pos + frame]):
            outs += taker.handle(event)
        outs += taker.handle(Tick(min(len(line), pos + frame) / rate))
        for out in outs:
            if isinstance(out, NoInput):
                got.no_inputs.append(out.time_s)
            elif isinstance(out, UserTurn):
                end = hearing.take_turn_end()
                got.turns.append(
                    HeardTurn(
                        out,
                        round((out.time_s - out.end_s) * 1000, 1),
                        round(end.asr_ms, 1) if end else 0.0,
                        bool(end and end.early),
                        end.groups if end else 1,
                    )
                )
    return got
