"""``voicebot serve``: two workers behind Kamailio's dispatcher, one public address (the demo
handler); and the product's pipeline started by ``voicebot serve`` itself, answering a real
call and reporting each service's health."""

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
from conftest import (
    PYTHON,
    ROOT,
    free_port,
    render,
    require_peers,
    run_caller,
    sipp,
    sipp_wait,
    start_serve,
)

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
    started = start_serve(
        folder, "sip:\n  rtp_ports: 40\n  shutdown_grace_s: 20\n  media_timeout_s: 10\n", 2
    )
    yield Service(started.proc, started.port, started.record_dir, started.var)
    started.stop(30)


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


# --------------------------------------------------------------------------- the real pipeline


@dataclass
class VoiceServe:
    """``voicebot serve`` with the product's pipeline: its output lines so far."""

    proc: subprocess.Popen[str]
    port: int
    env: dict[str, str]
    folder: Path
    lines: list[str]


@pytest.fixture(scope="module")
def voice_serve(
    tmp_path_factory: pytest.TempPathFactory, dialog_model: Path, frozen_now: str
) -> Iterator[VoiceServe]:
    """``voicebot serve`` as shipped (no ``--demo``): the action server, the speech service
    (Whisper, Piper), the dialog service (the trained Rasa model, SQLite tracker store), one
    thin worker and Kamailio, all started by the command itself."""
    import threading

    require_peers()
    if not KAMAILIO.exists():
        pytest.skip("kamailio (Debian package) not installed")
    folder = tmp_path_factory.mktemp("serve-voice")
    cfg = folder / "settings.yml"
    cfg.write_text(
        "sip:\n  rtp_ports: 20\n  shutdown_grace_s: 5\n  media_timeout_s: 20\n"
        f"dialog:\n  action_endpoint: http://127.0.0.1:{free_port()}/webhook\n"
        f"records:\n  url: sqlite:///{folder / 'records.sqlite3'}\n"
    )
    env = {
        **os.environ,
        "VOICEBOT_CONFIG": str(cfg),
        "VOICEBOT_VAR": str(folder / "var"),
        "VOICEBOT_NOW": frozen_now,
        "PYTHONPATH": str(ROOT),
    }
    port = free_port()
    proc = subprocess.Popen(
        [PYTHON, "-m", "voicebot.cli", "serve", "--port", str(port), "--workers", "1",
         "--worker-base-port", str(free_port(1)), "--rtp-base-port", str(free_port(20))],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    lines: list[str] = []
    answering = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip())
            if "answering SIP" in line:
                answering.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 900  # the models load in about a minute on a quiet machine
    while not answering.wait(0.5):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("voicebot serve did not start:\n" + "\n".join(lines[-40:]))
    yield VoiceServe(proc, port, env, folder, lines)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_serve_loads_the_models_answers_a_call_and_reports_health(
    voice_serve: VoiceServe,
) -> None:
    """Progress while each service loads, a health line naming both once they answer, then a
    real call (pjsua2) that hears the greeting, which came through the dialog service and
    was spoken by the speech service; ``voicebot status`` lists both services up."""
    import numpy as np
    import soundfile as sf

    from voicebot.asr import load_engine
    from voicebot.config import load_settings

    out = list(voice_serve.lines)
    for service in ("speech", "dialog"):
        assert any(f"{service} service: loading" in line for line in out), out
        assert any(f"{service} service: ready" in line for line in out), out
    health = next((line for line in out if "voicebot: health:" in line), "")
    assert "speech up" in health and "dialog up" in health, out
    answering = next(i for i, line in enumerate(out) if "answering SIP" in line)
    ready = next(i for i, line in enumerate(out) if "services ready" in line)
    assert ready < answering  # no call is taken before the models are loaded

    folder = voice_serve.folder
    silence = folder / "silence.wav"
    sf.write(str(silence), np.zeros(8000 * 10, np.int16), 8000, subtype="PCM_16")
    record = folder / "greeting.wav"
    report = run_caller(
        folder, f"sip:bot@127.0.0.1:{voice_serve.port}", play=silence, record=record,
        duration=10.0,
    )  # fmt: skip
    assert any(e["event"] == "state" and e.get("code") == 200 for e in report["events"])
    audio, rate = sf.read(str(record), dtype="int16")
    heard = load_engine(load_settings()).transcribe(audio, sample_rate=rate).text.lower()
    assert "brightline" in heard or "calling" in heard, heard

    status = subprocess.run(
        [PYTHON, "-m", "voicebot.cli", "status", "--json"],
        capture_output=True, text=True, env=voice_serve.env, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert status.returncode == 0, status.stdout + status.stderr
    answers = json.loads(status.stdout)
    assert answers["speech"]["ok"] and answers["dialog"]["ok"], answers
    assert answers["dialog"]["ops"]["start"]["count"] >= 1  # the greeting's dialog turn


def _descendants(pid: int) -> dict[int, str]:
    """pid -> command line of every process below ``pid`` (from /proc)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out: dict[int, str] = {}
    todo = list(parents.get(pid, []))
    while todo:
        child = todo.pop()
        try:
            out[child] = (
                (Path("/proc") / str(child) / "cmdline")
                .read_bytes()
                .decode(errors="replace")
                .replace("\0", " ")
            )
        except OSError:
            continue
        todo += parents.get(child, [])
    return out


def test_sigterm_while_the_models_load_stops_every_process(
    tmp_path: Path, dialog_model: Path
) -> None:
    """SIGTERM to ``voicebot serve`` while its services still load the models: the command
    exits and takes the speech and dialog services, the action server and the workers with
    it. (Seen before the services started alongside the workers: serve, still in Python's
    default SIGTERM handling, ended alone and left them running under PID 1. Since then the
    supervisor handles SIGTERM during the load; serve's own handler covers the moments
    before it, which a test cannot hit reliably.)"""
    require_peers()
    cfg = tmp_path / "settings.yml"
    cfg.write_text(
        "sip:\n  rtp_ports: 20\n"
        f"dialog:\n  action_endpoint: http://127.0.0.1:{free_port()}/webhook\n"
    )
    env = {
        **os.environ,
        "VOICEBOT_CONFIG": str(cfg),
        "VOICEBOT_VAR": str(tmp_path / "var"),
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.Popen(
        [PYTHON, "-m", "voicebot.cli", "serve", "--port", str(free_port()), "--workers", "1",
         "--worker-base-port", str(free_port(1)), "--rtp-base-port", str(free_port(20))],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    seen: list[str] = []
    while not any("dialog service: loading" in line for line in seen):
        line = proc.stdout.readline()
        assert line, "voicebot serve ended before loading:\n" + "".join(seen)
        seen.append(line)
    children = _descendants(proc.pid)
    assert any("voicebot.services.dialog" in c for c in children.values()), children
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(90)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("voicebot serve did not exit on SIGTERM while loading")
    deadline = time.monotonic() + 30
    alive = dict(children)
    while alive and time.monotonic() < deadline:
        alive = {p: c for p, c in alive.items() if Path(f"/proc/{p}/cmdline").exists()
                 and Path(f"/proc/{p}/cmdline").read_bytes()}  # fmt: skip
        time.sleep(0.5)
    for pid in alive:  # leave the machine clean even when the test fails
        with __import__("contextlib").suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not alive, f"left running after serve exited: {alive}"
