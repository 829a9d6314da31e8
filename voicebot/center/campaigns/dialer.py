"""The dialer: places a campaign's calls at the pace the campaign allows.

At most ``max_concurrent`` calls at once and ``max_rate_per_s`` new calls per second (a
token bucket holding one token, so calls are spread evenly); only inside the calling window
in each contact's own time zone (a contact outside it is postponed to the window's next
opening); the do-not-call list is checked in the transaction that opens each attempt; the
result of every call decides retries (:meth:`CampaignStore.end_attempt`).

Placing a call and running the survey is behind :class:`Callee`, one call at a time: the
SIP line with the survey dialog in production, simulated callees in tests and in
``bench/campaign.py``. Pausing stops new calls (calls in progress finish); a crash loses no
answer and calls nobody twice (see :mod:`voicebot.center.campaigns.store`). Times come from
the event loop's clock plus ``epoch`` (s since the epoch).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from voicebot.center.campaigns.spec import CampaignSpec
from voicebot.center.campaigns.store import CallResult, CampaignStore, DueContact, next_window_start

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallOutcome:
    """How one call went.

    Attributes:
        result: ``answered`` (a person), ``machine``, ``busy``, ``no_answer``, ``failed``.
        detail: a short note (SIP status, machine action taken...).
        callback_at: the callee asked to be called back then (epoch s).
        opted_out: the callee asked never to be called again.
    """

    result: CallResult
    detail: str = ""
    callback_at: float | None = None
    opted_out: bool = False


class CallInterrupted(Exception):
    """Raised by a :class:`Callee` when a call's end is unknown (the process placing it
    died): the contact may have been reached, so it is not called again."""


class Callee(Protocol):
    """Places one call to ``contact`` and runs the survey; answers are recorded through
    ``answer(question, value)`` as they are given."""

    async def __call__(
        self, contact: DueContact, spec: CampaignSpec, answer: Callable[[str, str], None]
    ) -> CallOutcome: ...


@dataclass
class DialerStats:
    placed: int = 0
    in_progress: int = 0
    peak_concurrent: int = 0
    postponed: int = 0


class Dialer:
    """Runs one campaign until no contact is due, or it is paused or stopped.

    Args:
        store: the campaign database.
        name: the campaign.
        callee: places calls (see :class:`Callee`).
        epoch: added to the event loop's clock to give epoch seconds (virtual clocks start
            at 0); default: the wall clock's offset.
        idle_poll_s: how often to look again when nothing is due yet but contacts wait
            (retries, callbacks, the window's opening), s.
    """

    def __init__(
        self,
        store: CampaignStore,
        name: str,
        callee: Callee,
        *,
        epoch: float | None = None,
        idle_poll_s: float = 5.0,
    ) -> None:
        self.store = store
        self.name = name
        self.callee = callee
        self.spec = store.spec(name)
        self._epoch = epoch
        self.idle_poll_s = idle_poll_s
        self.stats = DialerStats()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()

    def now(self) -> float:
        loop = asyncio.get_running_loop()
        if self._epoch is None:
            self._epoch = time.time() - loop.time()
        return loop.time() + self._epoch

    def stop(self) -> None:
        """Place no new calls; :meth:`run` returns when the calls in progress end."""
        self._stop.set()

    async def run(self, *, until_done: bool = True) -> DialerStats:
        """Dial until nothing is left to call (``until_done``), or until stopped/paused.
        A paused campaign is not started: :class:`~voicebot.errors.StateError`."""
        self.store.begin_run(self.name)
        recovered = self.store.recover(self.name, self.now())
        if recovered:
            log.warning(
                "campaign %s: %d calls were cut by a restart; not redialled", self.name, recovered
            )
        gap = 1.0 / self.spec.max_rate_per_s
        next_slot = self.now()
        try:
            while not self._stop.is_set():
                if self.store.state(self.name) == "paused":
                    break
                if len(self._tasks) >= self.spec.max_concurrent:
                    await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
                    continue
                now = self.now()
                if now < next_slot:
                    await asyncio.sleep(next_slot - now)
                    continue
                due = self._next_due(now)
                if due is None:
                    upcoming = self.store.next_due_at(self.name)
                    if not self._tasks and until_done and upcoming is None:
                        break
                    wait = self.idle_poll_s
                    if upcoming is not None and not self._tasks:
                        wait = max(wait, upcoming - now)  # nothing to do until then
                    await self._idle(wait)
                    continue
                next_slot = max(next_slot, now) + gap
                self._start(due)
        finally:
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            if self.store.state(self.name) == "running":
                left = self.store.counts(self.name)
                busy = left.get("contacts_pending", 0) + left.get("contacts_callback", 0)
                self.store.set_state(self.name, "ready" if busy else "done")
        return self.stats

    def _next_due(self, now: float) -> DueContact | None:
        for row in self.store.candidates(self.name, now):
            when = datetime.fromtimestamp(now, UTC)
            if not self.spec.in_window(when, row["timezone"]):
                self.store.postpone(row["id"], next_window_start(self.spec, now, row["timezone"]))
                self.stats.postponed += 1
                continue
            due = self.store.begin_attempt(row["id"], now)
            if due is not None:
                return due
        return None

    async def _idle(self, wait_s: float) -> None:
        waiters = [asyncio.ensure_future(self._stop.wait())]
        try:
            if self._tasks:
                await asyncio.wait(
                    {*self._tasks, *waiters},
                    timeout=wait_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            else:
                await asyncio.wait(waiters, timeout=wait_s)
        finally:
            for w in waiters:
                w.cancel()

    def _start(self, due: DueContact) -> None:
        self.stats.placed += 1
        task = asyncio.create_task(self._call(due))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.stats.peak_concurrent = max(self.stats.peak_concurrent, len(self._tasks))

    async def _call(self, due: DueContact) -> None:
        def answer(question: str, value: str) -> None:
            self.store.record_answer(due.attempt_id, question, value, self.now())

        try:
            outcome = await self.callee(due, self.spec, answer)
        except CallInterrupted as exc:
            log.warning("campaign %s: call to contact %d cut: %s", self.name, due.contact_id, exc)
            self.store.interrupt(due.attempt_id, self.now(), str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - one failed call never stops the campaign
            log.warning(
                "campaign %s: call to contact %d failed: %s", self.name, due.contact_id, exc
            )
            outcome = CallOutcome("failed", detail=f"error: {exc}"[:200])
        self.store.end_attempt(
            self.spec,
            due.attempt_id,
            outcome.result,
            self.now(),
            detail=outcome.detail,
            callback_at=outcome.callback_at,
            opted_out=outcome.opted_out,
        )
