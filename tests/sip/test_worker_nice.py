"""``sip.worker_nice``: ``voicebot serve`` starts its workers at that nice value (Kamailio and
the supervisor stay at 0), a worker restarted after a crash gets it again, and the workers
still answer a real call (the demo handler: a prompt the caller records)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import PYTHON, ROOT, frame_dbfs, free_port, read_wav, require_peers, run_caller

from voicebot.errors import ConfigError
from voicebot.services.priority import group_nice_of
from voicebot.telephony.settings import SipSettings

KAMAILIO = Path("/usr/sbin/kamailio")


def nice_of(pid: int) -> int:
    """The nice value of process ``pid`` (field 19 of /proc/PID/stat)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def processes_below(pid: int) -> dict[int, str]:
    """pid -> command line of every descendant of ``pid``."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        parents.setdefault(ppid, []).append(int(stat.parent.name))
    out: dict[int, str] = {}
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            todo.append(child)
            try:
                raw = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            out[child] = raw.replace(b"\0", b" ").decode(errors="replace")
    return out


def test_worker_nice_out_of_range_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="worker_nice must be 0..19"):
        SipSettings(worker_nice=20)
    with pytest.raises(ConfigError, match="worker_nice"):
        SipSettings(worker_nice=-1)
    assert SipSettings().worker_nice >= 0


def test_workers_run_at_worker_nice_and_answer(tmp_path: Path) -> None:
    require_peers()
    if not KAMAILIO.exists():
        pytest.skip("kamailio (Debian package) not installed")
    cfg = tmp_path / "settings.yml"
    cfg.write_text("sip:\n  rtp_ports: 40\n  shutdown_grace_s: 5\n  worker_nice: 7\n")
    port = free_port()
    env = {
        **os.environ,
        "VOICEBOT_CONFIG": str(cfg),
        "VOICEBOT_VAR": str(tmp_path / "var"),
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.Popen(
        [PYTHON, "-m", "voicebot.cli", "serve", "--demo", "--port", str(port),
         "--workers", "2", "--worker-base-port", str(free_port(2)),
         "--rtp-base-port", str(free_port(80))],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        seen = ""
        while "answering SIP" not in seen and proc.poll() is None and seen.count("\n") < 50:
            seen += proc.stdout.readline()
        assert "answering SIP" in seen, seen
        below = processes_below(proc.pid)
        workers = [p for p, cmd in below.items() if "telephony.worker" in cmd]
        kamailio = [p for p, cmd in below.items() if "kamailio" in cmd]
        assert len(workers) == 2 and kamailio, below
        assert [nice_of(p) for p in workers] == [7, 7]
        if group_nice_of(workers[0]) is not None:  # their sessions' task groups (autogroup)
            assert [group_nice_of(p) for p in workers] == [7, 7]
        assert nice_of(proc.pid) == 0 and {nice_of(p) for p in kamailio} == {0}

        record = tmp_path / "heard.wav"
        report = run_caller(tmp_path, f"sip:bot@127.0.0.1:{port}", record=record, duration=4)
        assert any(e["event"] == "state" and e.get("code") == 200 for e in report["events"])
        assert max(frame_dbfs(read_wav(record))) > -30  # the demo prompt was heard

        os.kill(workers[0], signal.SIGKILL)  # the restarted worker is niced as well
        deadline = time.monotonic() + 60
        restarted: list[int] = []
        while not restarted and time.monotonic() < deadline:
            time.sleep(0.5)
            restarted = [
                p
                for p, cmd in processes_below(proc.pid).items()
                if "telephony.worker" in cmd and p not in workers and not cmd.startswith("nice")
            ]
        assert restarted, "the killed worker was not restarted"
        assert nice_of(restarted[0]) == 7
        assert group_nice_of(restarted[0]) == group_nice_of(workers[1])  # 7, or None for both
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
