"""A child of ``voicebot serve`` stops when its parent dies (real processes, SIGKILL).

The parent here is a small Python process standing in for ``serve`` (it starts the child
and is killed with SIGKILL, as an out-of-memory kill would); the child runs the same
watcher the services and SIP workers run. Before, such children lived on under init.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import asyncio, sys
from voicebot.orphan import stop_when_orphaned

async def main():
    stop = asyncio.Event()
    watch = asyncio.ensure_future(stop_when_orphaned(stop, "child", every_s=0.1))
    print("child up", flush=True)
    await stop.wait()
    await watch
    print("child stopped", flush=True)

asyncio.run(main())
"""

PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], stdout=open(sys.argv[2], "w"))
print(child.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_child_stops_soon_after_its_parent_is_killed(tmp_path: Path) -> None:
    out = tmp_path / "child.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, CHILD, str(out)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    deadline = time.monotonic() + 30
    while "child up" not in out.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "child up" in out.read_text()
    time.sleep(0.5)
    assert _alive(child)  # a living parent: the child goes on
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the child outlived its parent by 5 s"
    assert "child stopped" in out.read_text()  # it stopped through its stop event, not a signal
