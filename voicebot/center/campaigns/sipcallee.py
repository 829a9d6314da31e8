"""The dialer's :class:`~voicebot.center.campaigns.dialer.Callee` over SIP: a pool of thin
dialer processes (:mod:`voicebot.center.campaigns.dialer_proc`), each placing at most
``outbound.calls_per_dialer`` calls, started by the campaign process as its
``pacing.max_concurrent`` needs.

Each call goes to the dialer process with the fewest calls; its outcome comes back as a JSON
line. Answers do not pass through here: the dialer process commits them to the campaign
database itself, the moment they are given. If a dialer process dies, its calls in progress
end in :class:`~voicebot.center.campaigns.dialer.CallInterrupted` (the contacts may have
been reached: not called again) and later calls go to the others (or a new process).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from voicebot.center.campaigns.dialer import CallInterrupted, CallOutcome
from voicebot.center.campaigns.outbound_settings import OutboundSettings
from voicebot.center.campaigns.spec import CampaignSpec
from voicebot.center.campaigns.store import DueContact
from voicebot.errors import TelephonyError

log = logging.getLogger(__name__)


def _message(line: bytes) -> dict[str, Any]:
    try:
        msg = json.loads(line)
    except json.JSONDecodeError:
        msg = None
    if not isinstance(msg, dict):
        log.warning("dialer process wrote a line that is not a message: %r", line[:200])
        return {}
    return msg


@dataclass
class DialerProc:
    """One running dialer process and the calls it holds (by attempt id)."""

    index: int
    proc: asyncio.subprocess.Process
    calls: dict[int, asyncio.Future[CallOutcome]] = field(default_factory=dict)
    reader: asyncio.Task[None] | None = None
    alive: bool = True


class SipCallee:
    """Places campaign calls through dialer processes (see the module docstring).

    Args:
        store_path: the campaign database the dialer processes record answers in.
        cfg: the ``outbound`` settings.
        concurrency: calls at once (the campaign's ``pacing.max_concurrent``).
        log_dir: where each dialer process's stderr goes (``dialer-N.log``).
        env: environment of the dialer processes (default: this one's).
    """

    def __init__(
        self,
        store_path: Path,
        cfg: OutboundSettings,
        concurrency: int,
        *,
        log_dir: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        self.store_path = store_path
        self.cfg = cfg
        self.size = max(1, math.ceil(concurrency / cfg.calls_per_dialer))
        self.log_dir = log_dir
        self.env = env
        self.procs: list[DialerProc | None] = [None] * self.size
        self._logs: list[IO[bytes]] = []
        self.pids: list[int] = []

    async def start(self) -> None:
        """Start every dialer process and wait until each listens (TelephonyError if not)."""
        await asyncio.gather(*(self._spawn(i) for i in range(self.size)))

    async def _spawn(self, index: int) -> DialerProc:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_file = (self.log_dir / f"dialer-{index}.log").open("ab")
        self._logs.append(log_file)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "voicebot.center.campaigns.dialer_proc",
            "--store",
            str(self.store_path),
            "--sip-port",
            str(self.cfg.base_port + index),
            "--rtp-port",
            str(self.cfg.rtp_base_port + index * self.cfg.rtp_ports),
            "--name",
            f"dialer-{index}",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=log_file,
            env=self.env if self.env is not None else dict(os.environ),
        )
        self.pids.append(proc.pid)
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), self.cfg.start_timeout_s)
        except TimeoutError:
            line = b""
        if not line or _message(line).get("op") != "ready":
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            raise TelephonyError(
                f"dialer process {index} did not start",
                hint=f"see {self.log_dir / f'dialer-{index}.log'}",
            )
        dp = DialerProc(index, proc)
        dp.reader = asyncio.create_task(self._read(dp))
        self.procs[index] = dp
        log.info("dialer-%d ready (pid %d)", index, proc.pid)
        return dp

    async def _read(self, dp: DialerProc) -> None:
        assert dp.proc.stdout is not None
        try:
            while line := await dp.proc.stdout.readline():
                msg = _message(line)
                if msg.get("op") != "outcome":
                    continue
                fut = dp.calls.pop(int(msg["attempt_id"]), None)
                if fut is not None and not fut.done():
                    fut.set_result(
                        CallOutcome(
                            msg["result"],
                            msg.get("detail", ""),
                            callback_at=msg.get("callback_at"),
                            opted_out=bool(msg.get("opted_out")),
                        )
                    )
        finally:
            dp.alive = False
            for attempt_id, fut in dp.calls.items():
                if not fut.done():
                    fut.set_exception(
                        CallInterrupted(f"dialer-{dp.index} died during attempt {attempt_id}")
                    )
            dp.calls.clear()

    async def _pick(self) -> DialerProc:
        live = [p for p in self.procs if p is not None and p.alive]
        if live:
            best = min(live, key=lambda p: len(p.calls))
            if len(best.calls) < self.cfg.calls_per_dialer:
                return best
        for i, p in enumerate(self.procs):
            if p is None or not p.alive:
                log.warning("dialer-%d is gone: starting it again", i)
                return await self._spawn(i)
        raise TelephonyError("every dialer process is full (more calls than max_concurrent)")

    async def __call__(
        self, contact: DueContact, spec: CampaignSpec, answer: Callable[[str, str], None]
    ) -> CallOutcome:
        dp = await self._pick()
        fut: asyncio.Future[CallOutcome] = asyncio.get_running_loop().create_future()
        dp.calls[contact.attempt_id] = fut
        request = {
            "op": "call",
            "attempt_id": contact.attempt_id,
            "contact": contact.__dict__,
            "spec": spec.as_dict(),
        }
        assert dp.proc.stdin is not None
        try:
            dp.proc.stdin.write((json.dumps(request) + "\n").encode())
            await dp.proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            dp.calls.pop(contact.attempt_id, None)
            return CallOutcome("failed", f"dialer-{dp.index} unreachable: {exc}")
        return await fut

    async def close(self, wait_s: float = 15.0) -> None:
        """Close the dialers' stdin (they hang up and exit); kill the ones that linger."""
        for dp in self.procs:
            if dp is not None and dp.proc.stdin is not None:
                with contextlib.suppress(Exception):
                    dp.proc.stdin.close()
        for dp in self.procs:
            if dp is None:
                continue
            try:
                await asyncio.wait_for(dp.proc.wait(), wait_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    dp.proc.kill()
                await dp.proc.wait()
            if dp.reader is not None:
                with contextlib.suppress(Exception):
                    await dp.reader
        for f in self._logs:
            f.close()
