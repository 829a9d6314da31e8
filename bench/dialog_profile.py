"""Where the dialog service's event loop spends a turn: a py-spy sample of its main thread.

The dialog service runs every call's Rasa turn on one asyncio loop (the main thread), so a
turn's wall time is its own work, the other turns' work on the same loop, waits for the CPU
(run queue) and waits outside the process (the action server, a Redis server). ``py-spy
record --idle`` samples the main thread's Python stack ``rate`` times a second without
stopping it; every sample is put in one category by the innermost frame that names one:

- ``idle``: the loop waits in its selector (nothing to run: a request or a reply from the
  action server has not come yet); with uvloop (which Rasa installs) that is a stack that
  ends in ``Runner.run``;
- ``tracker_store``: Rasa's tracker store and SQLAlchemy, voicebot's store wrappers;
- ``lock_store``: Rasa's lock store;
- ``action_server``: building and reading the action server's HTTP requests (the wait for
  its answer is ``idle``);
- ``policies``: Rasa's policies and TensorFlow (predicting the next action);
- ``nlu``: Rasa's NLU components and the graph runner;
- ``wire``: voicebot's service protocol (reading and writing the requests);
- ``other``: everything else (the bridge, Rasa's processor, asyncio itself).

A sample of a thread waiting for a CPU shows the stack it will go on with, so run-queue
waits count in the category of the work they delay. Needs py-spy (requirements/dev.txt)
and ptrace rights over the process (root, or the same user with ptrace_scope 0).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

CATEGORIES = (
    ("idle", ("selectors.py",)),
    ("tracker_store", ("tracker_store.py", "sqlalchemy", "voicebot/dialog/stores")),
    ("lock_store", ("lock_store.py",)),
    ("action_server", ("rasa/core/actions/action.py", "rasa/utils/endpoints.py", "aiohttp")),
    ("policies", ("rasa/core/policies", "tensorflow", "keras")),
    ("nlu", ("rasa/nlu", "rasa/engine", "rasa/shared/nlu", "voicebot/nlu_components")),
    ("wire", ("voicebot/services/protocol.py", "voicebot/services/server.py:_answer")),
)
"""(category, substrings of a frame ``function (path:line)``), tested on the innermost frame
first, then outwards."""


def category(frames: list[str]) -> str:
    """The category of one stack (outermost frame first)."""
    leaf = frames[-1] if frames else ""
    if "selectors.py" in leaf or "Runner.run (asyncio/runners.py" in leaf:
        return "idle"  # (Rasa's uvloop waits in C code: the stack ends at Runner.run)
    for frame in reversed(frames):
        for name, keys in CATEGORIES[1:]:
            if any(key in frame for key in keys):
                return name
    return "other"


class DialogProfile:
    """py-spy on the dialog service process for one level (see the module docstring)."""

    def __init__(self, pid: int, out: Path, seconds: float, rate: int = 25) -> None:
        self.out, self.rate = out, rate
        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self.proc: subprocess.Popen[bytes] | None = None
        self.error = ""
        if not Path(exe).exists():
            self.error = "py-spy not installed (requirements/dev.txt)"
            return
        self.proc = subprocess.Popen(
            [exe, "record", "--pid", str(pid), "--rate", str(rate), "--idle", "--threads",
             "--nonblocking", "--format", "raw", "--output", str(out),
             "--duration", str(int(seconds))],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip

    def stop(self, turns: int) -> dict[str, object]:
        """The main thread's samples by category: share (%) and ms per dialog request."""
        if self.proc is None:
            return {"unavailable": self.error}
        self.proc.send_signal(2)  # SIGINT: py-spy writes what it has
        try:
            _, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return {"unavailable": "py-spy did not stop"}
        try:
            lines = self.out.read_text().splitlines()
        except OSError:
            return {"unavailable": f"py-spy wrote nothing: {err.decode(errors='replace')[-300:]}"}
        counts: Counter[str] = Counter()
        for line in lines:
            stack, _, number = line.rpartition(" ")
            frames = stack.split(";")
            if len(frames) < 2 or "MainThread" not in frames[1] and "MainThread" not in frames[0]:
                continue
            counts[category(frames)] += int(number)
        total = sum(counts.values())
        if not total:
            return {"unavailable": "no samples of the main thread"}
        return {
            "rate_hz": self.rate,
            "main_thread_samples": total,
            "share_pct": {k: round(100 * v / total, 1) for k, v in counts.most_common()},
            "ms_per_request": {
                k: round(1000 * v / self.rate / turns, 1) for k, v in counts.most_common()
            }
            if turns
            else None,
        }
