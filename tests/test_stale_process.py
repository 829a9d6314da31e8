"""A process left running by a killed ``voicebot serve`` is stopped at the next start (real
processes: a stand-in for Kamailio in its own session, as ``serve`` starts it)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from voicebot.telephony.stale import record_pid, stop_stale

SLEEPER = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"


def _start(folder: Path, ignore_term: bool = False) -> subprocess.Popen[bytes]:
    code = SLEEPER if ignore_term else "import time; time.sleep(120)"
    return subprocess.Popen([sys.executable, "-c", code, "-w", str(folder)], start_new_session=True)


def test_the_process_of_the_same_folder_is_stopped(tmp_path: Path) -> None:
    proc = _start(tmp_path)
    record_pid(tmp_path / "kamailio.pid", proc.pid)
    time.sleep(0.2)
    assert stop_stale(tmp_path / "kamailio.pid", str(tmp_path)) == proc.pid
    assert proc.wait(1) is not None
    assert not (tmp_path / "kamailio.pid").exists()


def test_one_that_ignores_sigterm_is_killed(tmp_path: Path) -> None:
    proc = _start(tmp_path, ignore_term=True)
    record_pid(tmp_path / "kamailio.pid", proc.pid)
    time.sleep(0.3)
    assert stop_stale(tmp_path / "kamailio.pid", str(tmp_path), timeout_s=0.5) == proc.pid
    assert proc.wait(1) == -9


def test_a_pid_now_used_by_another_program_is_left_alone(tmp_path: Path) -> None:
    other = _start(tmp_path / "elsewhere")
    try:
        record_pid(tmp_path / "kamailio.pid", other.pid)
        assert stop_stale(tmp_path / "kamailio.pid", str(tmp_path / "var")) is None
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()
    (tmp_path / "kamailio.pid").write_text("not a pid\n")
    assert stop_stale(tmp_path / "kamailio.pid", str(tmp_path)) is None
    assert stop_stale(tmp_path / "missing.pid", str(tmp_path)) is None
