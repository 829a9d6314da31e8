"""A process left running by an earlier ``voicebot serve`` that died without stopping it.

Kamailio runs in its own session (so that a Ctrl-C to ``serve`` does not reach it before the
calls are drained) and does not watch its parent: after ``serve`` was killed with SIGKILL it
kept the public SIP port, and the next ``serve`` could not start ("is port ... free?").
``serve`` now writes Kamailio's pid next to its config, and at the next start stops a process
still running under that pid, but only if its command line names the same folder (a pid that
was reused by another program is left alone).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def _cmdline(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def record_pid(pid_file: Path, pid: int) -> None:
    """Remember ``pid`` for :func:`stop_stale` (written atomically)."""
    tmp = pid_file.with_suffix(".tmp")
    tmp.write_text(f"{pid}\n")
    tmp.replace(pid_file)


def stop_stale(pid_file: Path, marker: str, timeout_s: float = 5.0) -> int | None:
    """Stop the process group of the pid in ``pid_file`` if that process still runs and its
    command line contains ``marker``; SIGTERM, then SIGKILL after ``timeout_s``. Returns the
    pid it stopped, or None. The pid file is removed either way."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    finally:
        with contextlib.suppress(OSError):
            pid_file.unlink()
    cmd = _cmdline(pid)
    if cmd is None or marker not in cmd or not _running(pid):
        return None
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        end = time.monotonic() + timeout_s
        while _running(pid) and time.monotonic() < end:
            time.sleep(0.05)
        if not _running(pid):
            break
    return pid
