"""A worker killed mid-call: its caller gets a BYE within 5 s, the other calls go on.

Real ``voicebot serve --demo`` (two worker processes, one call each) behind a real Kamailio,
real SIPp callers on 127.0.0.1. The supervisor sees the worker exit and ends its dialogs
through Kamailio's RPC (``dlg.end_dlg``), so Kamailio sends the caller a BYE.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import render, require_peers, sipp, sipp_wait, start_serve

KAMAILIO = Path("/usr/sbin/kamailio")
RELEASE_LIMIT_S = 5.0


@dataclass
class Service:
    proc: subprocess.Popen[str]
    port: int
    record_dir: Path
    var: Path
    worker_ports: list[int]

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def reports(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in self.record_dir.glob("*.json")]

    def ready(self, name: str) -> dict:
        path = self.var / "sip" / f"{name}.ready"
        return json.loads(path.read_text()) if path.exists() else {}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    require_peers()
    if not KAMAILIO.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("kamailio (Debian package) not installed")
        pytest.skip("kamailio (Debian package) not installed")
    folder = tmp_path_factory.mktemp("death")
    # One call per worker: the second call must go to the other worker. No media timeout
    # within the test, so a BYE can only come from the release of the dead worker's calls.
    started = start_serve(
        folder,
        "sip:\n  rtp_ports: 40\n  calls_per_worker: 1\n  shutdown_grace_s: 20\n"
        "  media_timeout_s: 120\n",
        workers=2,
    )
    try:
        yield Service(
            started.proc, started.port, started.record_dir, started.var, started.worker_ports
        )
    finally:
        started.stop(40)


def answered_by(msg_file: Path, timeout_s: float = 10.0) -> int:
    """The worker port in the Contact of the 200 OK SIPp logged for its call."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        text = msg_file.read_text(errors="replace") if msg_file.exists() else ""
        ok = text.find("SIP/2.0 200 OK")
        m = re.search(r"Contact:\s*<?sip:[^@>]*@127\.0\.0\.1:(\d+)", text[ok:]) if ok >= 0 else None
        if m:
            return int(m.group(1))
        time.sleep(0.1)
    raise AssertionError(f"no 200 OK with a Contact in {msg_file}")


def test_killed_worker_releases_its_caller_and_spares_the_other_call(
    service: Service, tmp_path: Path
) -> None:
    # Call A stays on the line silently until it gets a BYE.
    a = sipp(render("uac_wait_bye.xml", tmp_path), service.target, tmp_path, background=True)
    a_port = answered_by(tmp_path / f"{a.tag}.msg")  # type: ignore[union-attr]
    assert a_port in service.worker_ports
    # Call B speaks for 8 s and then keys 1 2 3 5 on the other worker (one call each).
    b = sipp(
        render("uac_speech_dtmf.xml", tmp_path, SPEECH_MS="8000"),
        service.target,
        tmp_path,
        background=True,
    )
    b_port = answered_by(tmp_path / f"{b.tag}.msg")  # type: ignore[union-attr]
    assert b_port != a_port
    name = f"worker-{service.worker_ports.index(a_port)}"
    dead_pid = service.ready(name)["pid"]
    time.sleep(1.0)

    killed_at = time.monotonic()
    os.kill(dead_pid, signal.SIGKILL)
    res_a = sipp_wait(a, 30)  # type: ignore[arg-type]
    released_s = time.monotonic() - killed_at
    print(f"caller released {released_s:.2f} s after the worker's SIGKILL")
    assert res_a.returncode == 0 and res_a.successful == 1, res_a.log[-2000:]
    assert released_s < RELEASE_LIMIT_S, f"caller released after {released_s:.1f} s"
    bye = res_a.messages[res_a.messages.rfind("BYE sip:") :]
    assert "BYE sip:" in res_a.messages and "voicebot-proxy" in bye  # Kamailio's own BYE

    res_b = sipp_wait(b, 40)  # type: ignore[arg-type]
    assert res_b.returncode == 0 and res_b.successful == 1, res_b.log[-2000:]
    end = time.monotonic() + 10
    while not service.reports() and time.monotonic() < end:
        time.sleep(0.1)
    reports = service.reports()
    assert len(reports) == 1  # the dead worker could not write a report
    assert [d["digit"] for d in reports[0]["digits"]] == ["1", "2", "3", "5"]
    assert reports[0]["frames"] >= 400  # 8 s of speech reached the surviving worker

    # The worker is restarted and both workers take new calls again.
    end = time.monotonic() + 30
    while service.ready(name).get("pid") in (None, dead_pid) and time.monotonic() < end:
        time.sleep(0.2)
    new_pid = service.ready(name).get("pid")
    assert new_pid not in (None, dead_pid), f"{name} was not restarted"
    calls = sipp(
        render("uac_speech_dtmf.xml", tmp_path, SPEECH_MS="1500"),
        service.target,
        tmp_path,
        calls=2,
        rate=50,
    )
    assert calls.returncode == 0 and calls.successful == 2, calls.log[-3000:]  # type: ignore[union-attr]
    end = time.monotonic() + 10
    while len(service.reports()) < 3 and time.monotonic() < end:
        time.sleep(0.1)
    pids = {r["worker_pid"] for r in service.reports()}
    assert new_pid in pids and len(pids) == 2
