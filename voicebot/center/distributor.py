"""Serving one handed-off caller from a department queue: ring the longest-idle agent,
keep the caller informed while they wait, and let them leave a message instead.

:class:`Distributor` is the call-side half of the ACD; the :class:`~voicebot.center.board.
AgentBoard` is the shared half. For one caller it:

1. puts the call in the department's queue and tells the caller their position and the
   expected wait (nobody waits in silence: between announcements the line plays comfort
   audio);
2. when it is the call's turn and an agent is free, rings that agent's phone. The agent
   hears a one-sentence whisper of what the call is about before the caller is joined and
   may refuse with a key (the call goes back to its place in the queue). An agent who does
   not answer within ``ring_timeout_s`` is marked missed and the next agent is tried;
3. repeats the position and wait every ``announce_every_s``; after ``max_wait_s`` offers a
   message instead (the caller may also ask for that at any time, by key or by saying so);
4. records the outcome: answered (with the agent), message, or abandoned (caller hung up).

What the phone line does (ringing, whisper, bridging, speaking to the caller) is behind the
small :class:`QueueLine` protocol, so the same logic runs on SIP and in tests/benchmarks on a
virtual clock. Times come from the running event loop's clock plus ``epoch`` (s).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Literal, Protocol

from voicebot.center.board import Offer, OfferResult
from voicebot.center.board_api import Board

log = logging.getLogger(__name__)

QueueResult = Literal["answered", "message", "abandoned"]


class QueueLine(Protocol):
    """What the distributor needs from the caller's line and the agents' phones."""

    @property
    def caller_gone(self) -> bool:
        """The caller hung up."""
        ...

    @property
    def wants_message(self) -> bool:
        """The caller asked to leave a message instead of waiting (key or words)."""
        ...

    async def announce(self, position: int, wait_s: float, first: bool) -> None:
        """Tell the caller their position and the expected wait (then comfort audio)."""
        ...

    async def offer_message(self) -> None:
        """Tell the caller they waited the maximum and may leave a message (a key or 'yes')."""
        ...

    async def ring(self, offer: Offer, timeout_s: float) -> OfferResult:
        """Ring the agent of ``offer``; on answer play the whisper and, unless the agent
        refuses, join the caller. Returns how it went."""
        ...

    async def connected(self, offer: Offer) -> None:
        """Wait until the joined caller and agent have finished their call."""
        ...


@dataclass(frozen=True)
class QueueStay:
    """How a caller's time in the queue ended.

    Attributes:
        result: ``answered`` (joined to ``agent``), ``message`` or ``abandoned``.
        agent: the agent who took the call.
        wait_s: seconds from joining the queue to the agent's answer (or to leaving).
        offers: agents rung, in order, with what each did.
        announcements: how many position announcements the caller heard.
        talk_s: seconds the caller and the agent were joined (0 unless answered).
    """

    result: QueueResult
    agent: str | None
    wait_s: float
    offers: tuple[tuple[str, OfferResult], ...]
    announcements: int
    talk_s: float = 0.0


class Distributor:
    """The per-call queue logic over a shared :class:`~voicebot.center.board_api.Board`
    (see the module doc).

    Args:
        board: the host's agent board.
        poll_s: how often a waiting call checks for a free agent, s.
        epoch: added to the event loop's clock to give board times, s.
    """

    def __init__(self, board: Board, *, poll_s: float = 0.5, epoch: float = 0.0) -> None:
        self.board = board
        self.acd = board.acd
        self.poll_s = poll_s
        self.epoch = epoch

    def now(self) -> float:
        return asyncio.get_running_loop().time() + self.epoch

    async def serve(self, call_ref: str, department: str, line: QueueLine) -> QueueStay:
        """Queue ``call_ref`` for ``department`` until answered, a message, or a hang-up."""
        joined = self.now()
        position = self.board.join(call_ref, department, joined)
        offers: list[tuple[str, OfferResult]] = []
        announcements = 0
        next_announce = joined
        message_offered = False
        try:
            while True:
                if line.caller_gone:
                    return self._left(call_ref, "abandoned", joined, offers, announcements)
                if line.wants_message:
                    return self._left(call_ref, "message", joined, offers, announcements)
                offer = self.board.claim(call_ref, self.now())
                if offer is not None:
                    result = await self._ring(line, offer)
                    offers.append((offer.agent, result))
                    if result == "answered":
                        answered = self.now()
                        await line.connected(offer)
                        ended = self.now()
                        self.board.call_ended(offer, ended)
                        return QueueStay(
                            "answered",
                            offer.agent,
                            answered - joined,
                            tuple(offers),
                            announcements,
                            ended - answered,
                        )
                    continue  # try the next agent at once
                now = self.now()
                if not message_offered and now - joined >= self.acd.max_wait_s:
                    message_offered = True
                    await line.offer_message()
                    continue
                if now >= next_announce:
                    position = self.board.position(call_ref) or position
                    wait = self.board.expected_wait_s(call_ref, now)
                    await line.announce(position, wait, first=announcements == 0)
                    announcements += 1
                    next_announce = now + self.acd.announce_every_s
                    continue
                await asyncio.sleep(self.poll_s)
        except asyncio.CancelledError:
            self.board.leave(call_ref, "abandoned", self.now())
            raise

    async def _ring(self, line: QueueLine, offer: Offer) -> OfferResult:
        try:
            result = await line.ring(offer, self.acd.ring_timeout_s)
        except Exception as exc:  # noqa: BLE001 - a phone that fails is skipped, not fatal
            log.warning("ringing agent %s failed: %s", offer.agent, exc)
            result = "failed"
        self.board.offer_result(offer, result, self.now())
        return result

    def _left(
        self,
        call_ref: str,
        result: Literal["message", "abandoned"],
        joined: float,
        offers: list[tuple[str, OfferResult]],
        announcements: int,
    ) -> QueueStay:
        now = self.now()
        self.board.leave(call_ref, result, now)
        return QueueStay(result, None, now - joined, tuple(offers), announcements)
