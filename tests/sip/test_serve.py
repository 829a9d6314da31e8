"""``voicebot serve``: two workers behind Kamailio's dispatcher, one public address."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import PYTHON, ROOT, free_port, render, require_peers, sipp, sipp_wait

KAMAILIO = Path("/usr/sbin/kamailio")


@dataclass
class Service:
    proc: subprocess.Popen[str]
    port: int
    record_dir: Path
    var: Path

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def reports(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in self.record_dir.glob("*.json")]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    require_peers()
    if not KAMAILIO.exists():
        pytest.skip("kamailio (Debian package) not installed")
    folder = tmp_path_factory.mktemp("serve")
    cfg = folder / "settings.yml"
    cfg.write_text("sip:\n  rtp_ports: 40\n  shutdown_grace_s: 20\n  media_timeout_s: 10\n")
    port, workers, rtp = free_port(), free_port(2), free_port(80)
    env = {
        **os.environ,
        "VOICEBOT_CONFIG": str(cfg),
        "VOICEBOT_VAR": str(folder / "var"),
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "voicebot.cli",
            "serve",
            "--demo",
            "--demo-record-dir",
            str(folder / "calls"),
            "--port",
            str(port),
            "--workers",
            "2",
            "--worker-base-port",
            str(workers),
            "--rtp-base-port",
            str(rtp),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    seen = ""
    while "answering SIP" not in seen and proc.poll() is None and seen.count("\n") < 50:
        seen += proc.stdout.readline()
    assert "answering SIP" in seen, seen + proc.stdout.read()
    svc = Service(proc, port, folder / "calls", folder / "var")
    yield svc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def test_six_simultaneous_calls_spread_over_two_workers(service: Service, tmp_path: Path) -> None:
    res = sipp(
        render("uac_speech_dtmf.xml", tmp_path, SPEECH_MS="2500"),
        service.target,
        tmp_path,
        calls=6,
        rate=50,
    )
    assert res.returncode == 0 and res.successful == 6, res.log[-3000:]
    assert "Record-Route:" in res.messages  # in-dialog requests went through the proxy
    deadline = time.monotonic() + 10
    while len(service.reports()) < 6 and time.monotonic() < deadline:
        time.sleep(0.1)
    reports = service.reports()
    assert len(reports) == 6
    assert len({r["worker_pid"] for r in reports}) == 2
    for r in reports:
        assert [d["digit"] for d in r["digits"]] == ["1", "2", "3", "5"]
        assert r["frames"] >= 150
        assert r["source"].startswith("127.0.0.1:")  # the caller, from X-Voicebot-Source
        assert r["source"] != service.target


def test_call_over_tcp_through_the_proxy(service: Service, tmp_path: Path) -> None:
    res = sipp(
        render("uac_speech_dtmf.xml", tmp_path, SPEECH_MS="800"),
        service.target,
        tmp_path,
        extra=("-t", "t1"),
    )
    assert res.returncode == 0 and res.successful == 1, res.log[-3000:]
    assert "TCP message sent" in res.messages and "Record-Route:" in res.messages


def test_sigterm_drains_then_exits(service: Service, tmp_path: Path) -> None:
    long_call = sipp(
        render("uac_speech_dtmf.xml", tmp_path, SPEECH_MS="5000"),
        service.target,
        tmp_path,
        background=True,
    )
    time.sleep(1.5)
    service.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    refused = sipp(render("uac_rejected.xml", tmp_path, CODE="503"), service.target, tmp_path)
    assert refused.returncode == 0 and refused.successful == 1, refused.log[-2000:]
    done = sipp_wait(long_call)  # type: ignore[arg-type]
    assert done.returncode == 0 and done.successful == 1, done.log[-2000:]
    assert service.proc.wait(30) == 0
    out = service.proc.stdout.read() if service.proc.stdout else ""
    assert "stopping" in out
    # Kamailio and the workers are gone: the public port is free again.
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", service.port))
