"""Silero VAD runs of all calls on one event loop, batched into one model run.

A call worker carries several calls; the line hands every call its 20 ms frame on the same
media clock tick, so their 32 ms Silero frames fall due together. One onnxruntime run on a
batch of B frames costs less than B runs (``bench/vad_feed_cpu.py``, one core: 88, 145, 231,
346 us for B = 1, 2, 4, 8 on a quiet machine; 176 us for 1 and 185 for 2 under load, when
the per-run overhead dominates), and gives bit for bit the same scores and states as B
single runs (the model is per-row: checked by ``tests/test_silero_batch.py``). The batching
itself (a future and a few loop turns per frame) takes back part of that: four calls' VAD
feed cost 84-101 us per 20 ms frame batched against 86-118 us one by one.

:meth:`SileroBatcher.score` is awaited by a call's :class:`~voicebot.audio.vad.SpeechDetector`
(through ``feed_async``). The first request of a batch schedules the run; it runs once the
event loop went ``QUIET_TURNS`` turns without a new request (no wall-clock wait), so the other
calls' tasks, woken by the same tick, add theirs first. Every request is answered by the run,
or with its error. A call alone on its loop (``ALONE_S``) runs the model at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from voicebot.audio.scorers import SileroScorer

log = logging.getLogger(__name__)

LOG_EVERY_FRAMES = 5_000
"""The batcher logs its mean batch size once per this many frames (about 2.7 call-minutes)."""
ALONE_S = 0.1
"""A scorer whose loop saw no other scorer's frame for this long, s, runs the model at once,
without waiting for a batch: a call alone on its worker, and the replay suite (one case at
a time), keep the event loop's order of a plain run (replay's virtual clock follows it)."""
QUIET_TURNS = 2
"""A batch runs once this many event-loop turns in a row added no frame to it (the calls'
frames reach their detectors a few turns apart after the poll that took them from the
line); no wall-clock wait."""
MAX_TURNS = 12
"""... or after this many turns at most."""


class SileroBatcher:
    """Gathers the Silero frames of many scorers sharing one model session into one run.

    One batcher per (model session, thread): see :func:`batcher_for`.
    """

    def __init__(self, session: Any) -> None:
        self._session = session
        self._pending: list[tuple[SileroScorer, np.ndarray, np.ndarray, asyncio.Future[float]]] = []
        self._seen: dict[int, float] = {}  # id of a scorer -> when it last sent a frame
        self.runs = 0
        """Model runs so far."""
        self.frames = 0
        """Frames scored so far (``frames / runs`` = mean batch size)."""

    async def score(self, scorer: SileroScorer, inp: np.ndarray, state: np.ndarray) -> float:
        """Score ``inp`` (the scorer's context + frame, float32 of shape (1, n)) from
        ``state`` (the scorer's, shape (2, 1, 128)); the batch run hands the scorer its new
        state (:meth:`SileroScorer.took`) before this returns."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[float] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._gather, loop, 1, 0, 1)
        self._pending.append((scorer, inp, state, future))
        return await future

    def alone(self, scorer: SileroScorer) -> bool:
        """Whether ``scorer`` may run its frame at once (:meth:`SileroScorer.score`): no
        batch is open and no other scorer sent a frame within ``ALONE_S``. Counts the run."""
        now = time.monotonic()
        key = id(scorer)
        self._seen[key] = now
        if self._pending or self._others_seen(key, now):
            return False
        self._count(1)
        return True

    def _others_seen(self, key: int, now: float) -> bool:
        """Whether another scorer sent a frame within ``ALONE_S`` (forgets older ones)."""
        stale = [k for k, t in self._seen.items() if now - t > ALONE_S]
        for k in stale:
            del self._seen[k]
        return any(k != key for k in self._seen)

    def _count(self, frames: int) -> None:
        self.runs += 1
        self.frames += frames
        if self.frames // LOG_EVERY_FRAMES != (self.frames - frames) // LOG_EVERY_FRAMES:
            log.info(
                "Silero: %d frames in %d runs (%.2f frames a run)",
                self.frames,
                self.runs,
                self.frames / self.runs,
            )

    def _gather(self, loop: asyncio.AbstractEventLoop, size: int, quiet: int, turns: int) -> None:
        """Run the batch when ``QUIET_TURNS`` turns added nothing (``size``: its size at the
        last turn), else look again next turn."""
        quiet = quiet + 1 if len(self._pending) == size else 0
        if quiet < QUIET_TURNS and turns < MAX_TURNS:
            loop.call_soon(self._gather, loop, len(self._pending), quiet, turns + 1)
            return
        batch, self._pending = self._pending, []
        # a cancelled request (its call hung up) is not run: its scorer is not used again
        batch = [item for item in batch if not item[3].done()]
        if not batch:
            return
        try:
            out, state = self._session.run(
                None,
                {
                    "input": np.concatenate([item[1] for item in batch], axis=0),
                    "state": np.concatenate([item[2] for item in batch], axis=1),
                    "sr": batch[0][0].sr_input,
                },
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            for item in batch:
                item[3].set_exception(exc)
            return
        self._count(len(batch))
        for row, (scorer, inp, _, future) in enumerate(batch):
            scorer.took(state[:, row : row + 1, :].copy(), inp)
            future.set_result(float(out[row, 0]))


_batchers: dict[tuple[int, int], SileroBatcher] = {}
_lock = threading.Lock()


def batcher_for(session: Any) -> SileroBatcher:
    """The batcher of ``session`` for the calling thread (its event loop's calls)."""
    key = (id(session), threading.get_ident())
    with _lock:
        batcher = _batchers.get(key)
        if batcher is None:
            batcher = _batchers[key] = SileroBatcher(session)
        return batcher
