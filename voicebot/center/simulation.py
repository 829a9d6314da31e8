"""A contact-center day on a virtual clock: the real ACD logic (board + distributor) with
simulated callers and agents' phones, for tests and ``bench/acd.py``.

Nothing here touches SIP: agents' phones and callers are coroutines that wait on the event
loop's clock, and :class:`VirtualTimeLoop` makes that clock jump to the next timer when
nothing else is ready, so an hour of queueing runs in about a second and the same seed
always gives the same day. The agent board is the real SQLite one.
"""

from __future__ import annotations

import asyncio
import random
import selectors
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from voicebot.center.board import Offer, OfferResult
from voicebot.center.board_api import Board
from voicebot.center.distributor import Distributor, QueueStay

T = TypeVar("T")


class _JumpingSelector(selectors.DefaultSelector):
    """Polls real I/O without blocking; instead of sleeping, moves the loop's clock."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        ready = super().select(0)
        if ready or timeout is None or timeout <= 0:
            if not ready and timeout is None:
                raise RuntimeError("virtual time: every task waits on something that never comes")
            return ready
        self._loop.advance(timeout)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose ``time()`` is virtual: sleeping costs no wall time."""

    def __init__(self) -> None:
        self._virtual_s = 0.0
        super().__init__(selector=_JumpingSelector(self))

    def time(self) -> float:
        return self._virtual_s

    def advance(self, seconds: float) -> None:
        self._virtual_s += seconds


def run_virtual(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to the end on a fresh :class:`VirtualTimeLoop`."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


@dataclass(frozen=True)
class AgentHabits:
    """How simulated agents behave (all times s).

    Attributes:
        answer_s: range of seconds a free agent takes to pick up a ringing phone.
        no_answer: chance an agent lets the phone ring out (then they come back after
            ``back_after_missed_s`` and make themselves available again).
        refuse: chance an agent refuses a call after the whisper.
        talk_s_mean: mean talk time (exponential-ish: lognormal with sigma 0.5).
        whisper_s: length of the whisper the agent hears before the caller is joined.
    """

    answer_s: tuple[float, float] = (2.0, 6.0)
    no_answer: float = 0.05
    refuse: float = 0.02
    talk_s_mean: float = 150.0
    whisper_s: float = 3.0
    back_after_missed_s: float = 30.0


@dataclass
class SimulatedCaller:
    """One caller in the queue: hangs up after ``patience_s`` of waiting unless answered.

    Implements :class:`~voicebot.center.distributor.QueueLine` for the distributor.
    """

    call_ref: str
    patience_s: float
    board: Board
    habits: AgentHabits
    rng: random.Random
    announcement_s: float = 6.0
    heard: list[str] = field(default_factory=list)
    gone: bool = False
    answered: bool = False

    @property
    def caller_gone(self) -> bool:
        return self.gone

    @property
    def wants_message(self) -> bool:
        return False

    def start_patience(self) -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(self.patience_s, self._hang_up)

    def _hang_up(self) -> None:
        if not self.answered:
            self.gone = True

    async def announce(self, position: int, wait_s: float, first: bool) -> None:
        from voicebot.center.announce import queue_announcement

        self.heard.append(queue_announcement(position, wait_s, first=first))
        await asyncio.sleep(self.announcement_s)

    async def offer_message(self) -> None:
        from voicebot.center.announce import message_offer

        self.heard.append(message_offer())
        await asyncio.sleep(self.announcement_s)

    async def ring(self, offer: Offer, timeout_s: float) -> OfferResult:
        if self.rng.random() < self.habits.no_answer:
            await asyncio.sleep(timeout_s)
            loop = asyncio.get_running_loop()
            loop.call_later(
                self.habits.back_after_missed_s,
                lambda: self.board.resume(offer.agent, loop.time()),
            )
            return "missed"
        await asyncio.sleep(min(timeout_s, self.rng.uniform(*self.habits.answer_s)))
        await asyncio.sleep(self.habits.whisper_s)
        if self.rng.random() < self.habits.refuse:
            return "refused"
        if self.gone:  # hung up while the agent heard the whisper
            return "refused"
        self.answered = True
        return "answered"

    async def connected(self, offer: Offer) -> None:
        talk = self.rng.lognormvariate(0.0, 0.5) * self.habits.talk_s_mean / 1.133
        await asyncio.sleep(talk)


async def simulate_day(
    board: Board,
    departments: list[str],
    callers: int,
    arrival_window_s: float,
    *,
    seed: int = 1,
    habits: AgentHabits | None = None,
    patience_s: tuple[float, float] = (60.0, 400.0),
    poll_s: float = 1.0,
) -> list[QueueStay]:
    """Register every agent, then let ``callers`` callers arrive at random within
    ``arrival_window_s`` for random departments; returns each caller's stay in arrival order."""
    habits = habits or AgentHabits()
    rng = random.Random(seed)
    loop = asyncio.get_running_loop()
    for i, key in enumerate(board.roster.agents):
        # agents logged in over the last minutes: different idle times
        board.register(key, f"sip:{board.roster.agents[key].sip_user}@127.0.0.1", 3600.0, -i)
    distributor = Distributor(board, poll_s=poll_s)
    arrivals = sorted(rng.uniform(0, arrival_window_s) for _ in range(callers))

    async def one(index: int, at: float) -> QueueStay:
        await asyncio.sleep(max(0.0, at - loop.time()))
        caller = SimulatedCaller(
            f"sim-{index:05d}",
            rng.uniform(*patience_s),
            board,
            habits,
            random.Random(seed * 100003 + index),
        )
        caller.start_patience()
        return await distributor.serve(caller.call_ref, rng.choice(departments), caller)

    return list(await asyncio.gather(*(one(i, at) for i, at in enumerate(arrivals))))
