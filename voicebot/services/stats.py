"""Counters a service reports in its health answer: requests, errors, queue and run times."""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any


def rss_mb(pid: int | None = None) -> float:
    """Resident memory of a process, MB (0.0 when unknown)."""
    try:
        with open(f"/proc/{pid or os.getpid()}/statm") as fh:
            pages = int(fh.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


@dataclass
class OpStats:
    """Per operation: how many, how many failed, and recent queue/run times, ms."""

    count: int = 0
    errors: int = 0
    busy: int = 0
    queue_ms: deque[float] = field(default_factory=lambda: deque(maxlen=500))
    run_ms: deque[float] = field(default_factory=lambda: deque(maxlen=500))

    def summary(self) -> dict[str, Any]:
        def mean(values: deque[float]) -> float:
            return round(sum(values) / len(values), 1) if values else 0.0

        return {
            "count": self.count,
            "errors": self.errors,
            "busy": self.busy,
            "queue_ms_mean": mean(self.queue_ms),
            "run_ms_mean": mean(self.run_ms),
        }


class ServiceStats:
    """Thread-safe counters of one service process."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.started = time.monotonic()
        self._ops: dict[str, OpStats] = {}
        self._lock = threading.Lock()

    def queued(self, op: str) -> float:
        """Mark a request as waiting; returns its start mark (monotonic s)."""
        with self._lock:
            stats = self._ops.setdefault(op, OpStats())
            stats.count += 1
            stats.busy += 1
        return time.monotonic()

    def running(self, op: str, mark: float) -> float:
        now = time.monotonic()
        with self._lock:
            self._ops[op].queue_ms.append((now - mark) * 1000)
        return now

    def done(self, op: str, mark: float, ok: bool = True) -> None:
        with self._lock:
            stats = self._ops[op]
            stats.busy -= 1
            stats.run_ms.append((time.monotonic() - mark) * 1000)
            if not ok:
                stats.errors += 1

    def health(self, **extra: Any) -> dict[str, Any]:
        with self._lock:
            ops = {name: s.summary() for name, s in self._ops.items()}
        return {
            "ok": True,
            "service": self.name,
            "status": "ready",
            "pid": os.getpid(),
            "uptime_s": round(time.monotonic() - self.started, 1),
            "rss_mb": round(rss_mb(), 1),
            "ops": ops,
            **extra,
        }
