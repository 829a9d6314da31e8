"""What a call session needs from a phone line, whatever the line is.

The SIP line (:mod:`voicebot.telephony`) and the simulated line of ``voicebot call`` /
``voicebot replay`` (:mod:`voicebot.replay.simline`) both implement :class:`Line`, so one
session coroutine drives both. Times are seconds on the line's clock: the position in the
caller's audio stream (real time on SIP, virtual time in a simulation).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from voicebot.events import DtmfDigit

Int16Array = npt.NDArray[np.int16]
TransferResult = Literal["accepted", "busy", "no_answer", "rejected", "failed", "unsupported"]


@dataclass(frozen=True, eq=False)
class AudioIn:
    """Caller audio: int16 samples at the line rate starting at ``time_s`` (s)."""

    time_s: float
    samples: Int16Array


@dataclass(frozen=True)
class HungUp:
    """The caller hung up at ``time_s`` (s)."""

    time_s: float


LineInput = AudioIn | DtmfDigit | HungUp


class Line(Protocol):
    """One call's connection to the caller."""

    call_id: str
    """The internal call ID (:mod:`voicebot.callids`): names the call's files and keys."""
    caller_id: str | None
    sip_call_id: str | None
    """The SIP Call-ID as sent by the caller (data only, never a name), None off SIP."""
    rate: int
    """Sample rate of audio in and out, Hz (8000 on a G.711 line)."""

    def inputs(self) -> AsyncIterator[LineInput]:
        """Caller audio, keys and the hang-up, in time order; ends when the call is over."""
        ...

    def now(self) -> float:
        """The line clock, s."""
        ...

    async def play(self, samples: Int16Array) -> None:
        """Queue bot audio after what is already queued (returns once queued)."""
        ...

    async def wait_played(self) -> bool:
        """Wait until queued bot audio has played; False if it was stopped."""
        ...

    def stop_playback(self) -> float:
        """Stop bot audio now (barge-in); returns how much of it the caller heard, ms."""
        ...

    async def transfer(self, uri: str, headers: dict[str, str]) -> TransferResult:
        """Hand the caller to ``uri`` with context ``headers``."""
        ...

    async def hangup(self) -> None:
        """End the call from the bot's side."""
        ...
