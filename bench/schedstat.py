"""CPU time and run-queue wait per role, from the kernel's per-thread scheduler statistics.

``/proc/PID/task/TID/schedstat`` holds three numbers per thread: time on a CPU (ns), time
spent runnable but waiting for a CPU (the run queue, ns) and the number of time slices run.
:class:`SchedSampler` reads them for the processes of one ``voicebot serve`` tree and the
bench's own callers every ``every_s`` seconds, sorts each process into a role by its
command line (worker, speech, dialog, actions, kamailio, redis, serve, caller, probe: the
bench's RTP capture and py-spy; ``bench`` is the bench process itself) and reports, over the
sampled span, per role: ``cpu_s``, ``runq_wait_s``, ``slices`` and the mean wait per slice
(``wait_per_slice_ms``: how long a thread that became runnable waited, on average, before it
ran), and the busiest thread (CPU + wait, ``busy_pct`` of the span: near 100 means that
thread, e.g. a service's event loop, was never idle: a queue forms on it).
``other`` is every other process on the machine (other users' load; processes that start
and end between two readings are missed).

A thread born during the span counts from zero; a thread that ends keeps its last reading
(at most ``every_s`` of its work is missed). Linux only (``CONFIG_SCHED_INFO``).

Run alone for a quick look at a running service::

    python bench/schedstat.py --pid SERVE_PID --seconds 60
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path

ROLES = (
    ("caller", "tests/sip/caller.py"),
    ("caller", "sipp -sf"),
    ("worker", "telephony.worker"),
    ("speech", "services.speech"),
    ("dialog", "services.dialog"),
    ("actions", "rasa_sdk"),
    ("actions", "run actions"),
    ("kamailio", "kamailio"),
    ("redis", "redis-server"),
    ("serve", "cli serve"),
    ("probe", "rtp_probe.py"),
    ("probe", "py-spy"),
)
"""(role, a string in the command line), first match wins."""


def role_of(pid: int) -> str | None:
    """The role of process ``pid`` by its command line (``None`` when it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    cmd = raw.replace(b"\0", b" ").decode(errors="replace")
    return next((role for role, key in ROLES if key in cmd), "unlabelled")


def descendants(pids: list[int]) -> list[int]:
    """Every descendant of the given processes (from /proc/*/stat)."""
    parent: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            parent.setdefault(int(fields[1]), []).append(int(entry))
    out: list[int] = []
    todo = list(pids)
    while todo:
        for child in parent.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def thread_stats(pid: int) -> dict[int, tuple[int, int, int]]:
    """tid -> (cpu ns, run-queue wait ns, slices) of every thread of ``pid``."""
    out: dict[int, tuple[int, int, int]] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            cpu, wait, slices = Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()
        except (OSError, ValueError):
            continue
        out[int(tid)] = (int(cpu), int(wait), int(slices))
    return out


class SchedSampler(threading.Thread):
    """Per role CPU and run-queue wait of the processes under ``roots`` (see the module doc).

    Args:
        roots: process ids whose descendants (and themselves) are sampled, e.g. the
            ``voicebot serve`` process and the bench (whose children are the callers).
        every_s: seconds between two readings.
    """

    def __init__(self, roots: list[int], every_s: float = 1.0) -> None:
        super().__init__(daemon=True, name="schedstat")
        self.roots, self.every = roots, every_s
        self._halt = threading.Event()
        self._first: dict[tuple[int, int], tuple[int, int, int]] = {}
        self._last: dict[tuple[int, int], tuple[str, int, int, int]] = {}
        self._roles: dict[int, str] = {}
        self._names: dict[tuple[int, int], str] = {}
        self._t0 = time.monotonic()
        self._read(first=True)

    def _read(self, first: bool = False) -> None:
        me = os.getpid()
        ours = {*self.roots, *descendants(self.roots)}
        for pid in (int(e) for e in os.listdir("/proc") if e.isdigit()):
            role = self._roles.get(pid)
            if role is None:
                role = (role_of(pid) if pid in ours else "other") or ""
                if not role:
                    continue
                self._roles[pid] = role
            if pid == me:
                role = "bench"
            for tid, values in thread_stats(pid).items():
                key = (pid, tid)
                if first:
                    self._first[key] = values
                self._last[key] = (role, *values)
                if key not in self._names:
                    try:
                        comm = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
                    except OSError:
                        comm = "?"
                    self._names[key] = comm

    def run(self) -> None:
        while not self._halt.wait(self.every):
            self._read()

    def stop(self) -> dict[str, object]:
        """Stop sampling; the per-role totals over the span (see the module doc)."""
        self._halt.set()
        self.join()
        self._read()
        span = time.monotonic() - self._t0
        roles: dict[str, list[float]] = {}
        busiest: dict[str, tuple[float, float, str]] = {}
        for key, (role, cpu, wait, slices) in self._last.items():
            c0, w0, s0 = self._first.get(key, (0, 0, 0))
            acc = roles.setdefault(role, [0.0, 0.0, 0.0, 0.0])
            acc[0] += (cpu - c0) / 1e9
            acc[1] += (wait - w0) / 1e9
            acc[2] += slices - s0
            acc[3] += 1
            busy = ((cpu - c0) / 1e9, (wait - w0) / 1e9, self._names.get(key, "?"))
            if sum(busy[:2]) > sum(busiest.get(role, (0.0, 0.0, ""))[:2]):
                busiest[role] = busy
        machine = [sum(v[i] for v in roles.values()) for i in range(2)]
        per_role = {
            role: {
                "cpu_s": round(cpu, 2),
                "runq_wait_s": round(wait, 2),
                "slices": int(slices),
                "wait_per_slice_ms": round(1000 * wait / slices, 2) if slices > 0 else None,
                "threads": int(threads),
                "busiest_thread": {
                    "name": busiest[role][2],
                    "cpu_s": round(busiest[role][0], 2),
                    "runq_wait_s": round(busiest[role][1], 2),
                    "busy_pct": round(100 * sum(busiest[role][:2]) / span, 1),
                }
                if role in busiest and role != "other"
                else None,
            }
            for role, (cpu, wait, slices, threads) in sorted(roles.items(), key=lambda x: -x[1][1])
        }
        return {
            "span_s": round(span, 1),
            "cpus": os.cpu_count(),
            "machine_cpu_s": round(machine[0], 1),
            "machine_runq_wait_s": round(machine[1], 1),
            "per_role": per_role,
        }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pid", type=int, action="append", required=True, help="a root process")
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()
    sampler = SchedSampler(args.pid)
    sampler.start()
    time.sleep(args.seconds)
    print(json.dumps(sampler.stop(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
