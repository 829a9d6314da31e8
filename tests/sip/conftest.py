"""Real SIP calls on 127.0.0.1: worker processes, SIPp, a pjsua2 caller process.

Every peer runs in its own process (pjsua2 allows one Endpoint per process). Ports are
picked free at run time. The speech and DTMF pcaps are read from the shared evaluation
folder (``$VOICEBOT_SIP_EVAL``, ``$VOICEBOT_EVAL_DIR/sip`` or ../shared/eval/sip), never copied.
Under CI=true a missing peer or pcap folder fails the run (tests/_no_skips.py).
"""

from __future__ import annotations

import array
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "scenarios"
_EVAL = Path(os.environ.get("VOICEBOT_EVAL_DIR") or ROOT.parent / "shared" / "eval")
SIP_EVAL = Path(os.environ.get("VOICEBOT_SIP_EVAL") or _EVAL / "sip")
PCAP_DIR = SIP_EVAL / "pcap"
SPEECH_WAV = PCAP_DIR / "g711a_decoded_8k.wav"
PYTHON = sys.executable
SIPP = shutil.which("sipp")

_used: set[int] = set()


def free_port(span: int = 1) -> int:
    """A port (and ``span - 1`` above it) free for UDP and TCP on 127.0.0.1."""
    for _ in range(200):
        base = random.randrange(21000, 59000, 2)
        if any(p in _used for p in range(base, base + span)):
            continue
        try:
            socks = []
            for p in range(base, base + span):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    s = socket.socket(socket.AF_INET, kind)
                    socks.append(s)
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        _used.update(range(base, base + span))
        return base
    raise RuntimeError("no free port")


def require_peers() -> None:
    if SIPP is None:
        pytest.skip("sipp (Debian sip-tester) not installed")
    if not PCAP_DIR.is_dir():
        pytest.skip(f"SIP evaluation pcaps not found in {PCAP_DIR}")
    try:
        import pjsua2  # noqa: F401
    except ImportError:
        pytest.skip("pjsua2 not installed")


def render(scenario: str, folder: Path, **values: str) -> Path:
    """A scenario from tests/sip/scenarios with ``{KEY}`` placeholders filled in."""
    text = (SCENARIOS / scenario).read_text()
    values.setdefault("PCAP_DIR", str(PCAP_DIR))
    values.setdefault("SPEECH_MS", "3000")
    values.setdefault("MEDIA", "")
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    out = folder / f"{uuid.uuid4().hex[:6]}-{scenario}"
    out.write_text(text)
    return out


@dataclass
class SippResult:
    returncode: int
    successful: int
    failed: int
    messages: str
    log: str


def sipp(
    scenario: Path,
    target: str | None,
    folder: Path,
    *,
    calls: int = 1,
    limit: int | None = None,
    rate: float = 10.0,
    timeout_s: float = 40.0,
    server: bool = False,
    port: int | None = None,
    extra: tuple[str, ...] = (),
    background: bool = False,
) -> SippResult | subprocess.Popen[bytes]:
    """Run SIPp (client towards ``target`` or ``server``); waits unless ``background``."""
    assert SIPP is not None
    port = port or free_port()
    media = free_port(4)
    tag = uuid.uuid4().hex[:6]
    cmd = [
        SIPP,
        "-sf",
        str(scenario),
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
        "-mp",
        str(media),
        "-m",
        str(calls),
        "-l",
        str(limit or calls),
        "-r",
        str(rate),
        "-timeout",
        f"{int(timeout_s)}s",
        "-timeout_error",
        "-nostdin",
        "-trace_msg",
        "-message_file",
        str(folder / f"{tag}.msg"),
        "-trace_err",
        "-error_file",
        str(folder / f"{tag}.err"),
        "-trace_logs",
        "-log_file",
        str(folder / f"{tag}.log"),
        "-trace_stat",
        "-stf",
        str(folder / f"{tag}.csv"),
        *extra,
    ]
    if not server:
        cmd += ["-s", "bot", target or ""]
    proc = subprocess.Popen(cmd, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc.tag = tag  # type: ignore[attr-defined]
    proc.folder = folder  # type: ignore[attr-defined]
    if background:
        return proc
    return sipp_wait(proc, timeout_s + 20)


def sipp_wait(proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> SippResult:
    try:
        rc = proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    folder: Path = proc.folder  # type: ignore[attr-defined]
    tag: str = proc.tag  # type: ignore[attr-defined]
    ok = failed = 0
    stats = folder / f"{tag}.csv"
    if stats.exists():
        lines = stats.read_text().splitlines()
        if len(lines) >= 2:
            head, last = lines[0].split(";"), lines[-1].split(";")
            row = dict(zip(head, last, strict=False))
            ok = int(row.get("SuccessfulCall(C)", 0) or 0)
            failed = int(row.get("FailedCall(C)", 0) or 0)

    def read(suffix: str) -> str:
        p = folder / f"{tag}.{suffix}"
        return p.read_text(errors="replace") if p.exists() else ""

    return SippResult(rc, ok, failed, read("msg"), read("log") + read("err"))


def invite_outcomes(res: SippResult) -> tuple[int, int, list[str], int]:
    """(INVITEs answered 200, INVITEs refused with "503 Host Full" by admission control,
    the refusals' Retry-After values, INVITEs answered 486 by full workers) from SIPp's
    message trace."""
    ok: set[str] = set()
    busy: set[str] = set()
    refused: dict[str, str] = {}
    for msg in re.split(r"-{10,}", res.messages):
        status = re.search(r"^SIP/2\.0 (\d+) (.*)$", msg, re.M)
        call_id = re.search(r"^Call-ID:\s*(\S+)", msg, re.M | re.I)
        if "message received" not in msg or status is None or call_id is None:
            continue
        if not re.search(r"^CSeq:\s*1 INVITE", msg, re.M | re.I):
            continue
        if status.group(1) == "200":  # (a retransmitted 200 counts once)
            ok.add(call_id.group(1))
        elif status.group(1) == "486":
            busy.add(call_id.group(1))
        elif status.group(1) == "503":
            assert status.group(2).strip() == "Host Full", msg
            found = re.search(r"^Retry-After:\s*(\S+)", msg, re.M | re.I)
            refused[call_id.group(1)] = found.group(1) if found else ""
    return len(ok), len(refused), list(refused.values()), len(busy)


@dataclass
class Worker:
    """A worker process running the demo handler."""

    port: int
    proc: subprocess.Popen[bytes]
    record_dir: Path
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def reports(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted(self.record_dir.glob("*.json"))]

    def report_for(self, call_id: str, timeout_s: float = 10.0) -> dict:
        return wait_report(self.record_dir, call_id, timeout_s)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


def wait_report(folder: Path, call_id: str, timeout_s: float = 10.0) -> dict:
    """The demo handler's JSON report of the call whose SIP Call-ID contains ``call_id``
    (reports are named by the internal call ID; the SIP Call-ID is data in them)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        for p in folder.glob("*.json"):
            report = json.loads(p.read_text())
            if call_id in report.get("sip_call_id", ""):
                return report
        time.sleep(0.1)
    raise AssertionError(f"no report for call {call_id} in {folder}")


def start_worker(folder: Path, settings: str = "", **env: str) -> Worker:
    """Start ``python -m voicebot.telephony.worker`` with the demo handler; wait for ready."""
    port = free_port()
    rtp = free_port(40)
    record = folder / "calls"
    cfg = folder / "settings.yml"
    cfg.write_text("sip:\n  rtp_ports: 40\n  media_timeout_s: 10\n" + settings)
    ready = folder / "ready"
    full_env = {
        **os.environ,
        "VOICEBOT_CONFIG": str(cfg),
        "VOICEBOT_DEMO_RECORD_DIR": str(record),
        "PYTHONPATH": str(ROOT),
        **env,
    }
    log = folder / "worker.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "voicebot.telephony.worker",
                "--sip-address",
                "127.0.0.1",
                "--sip-port",
                str(port),
                "--rtp-port",
                str(rtp),
                "--handler",
                "voicebot.telephony.demo:handle_call",
                "--ready-file",
                str(ready),
            ],
            stdout=f,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=ROOT,
        )
    end = time.monotonic() + 20
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > end:
            proc.kill()
            raise AssertionError(f"worker did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.05)
    return Worker(port, proc, record, log, env)


@dataclass
class ServeProcess:
    """``voicebot serve`` started by :func:`start_serve`."""

    proc: subprocess.Popen[str]
    port: int
    """Kamailio's public SIP port."""
    worker_ports: list[int]
    folder: Path
    seen: str
    """Its output up to the 'answering SIP' banner (with ``log``: the log file's text)."""
    log_file: IO[str] | None = None

    @property
    def record_dir(self) -> Path:
        """Where the demo handler writes each call's report."""
        return self.folder / "calls"

    @property
    def var(self) -> Path:
        """Its VOICEBOT_VAR (``sip/kamailio/kamailio.log``, the workers' logs and ready files)."""
        return self.folder / "var"

    def stop(self, timeout_s: float = 40.0) -> int:
        """SIGTERM; SIGKILL after ``timeout_s``; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        status = self.proc.wait()
        if self.log_file is not None:
            self.log_file.close()
        return status


def start_serve(
    folder: Path,
    settings: str,
    workers: int = 1,
    *,
    demo: bool = True,
    env: dict[str, str] | None = None,
    port: int | None = None,
    log: Path | None = None,
    timeout_s: float = 60.0,
) -> ServeProcess:
    """``voicebot serve`` (Kamailio and ``workers`` workers on free ports; ``port``: the public
    one, when the caller needs it first) with ``settings`` (the text of its settings.yml) and
    its VOICEBOT_VAR in ``folder``; ``demo``: the demo handler recording each call in
    ``folder/calls`` (else the settings name the handler); ``env`` added to the environment.
    Returns once it prints 'answering SIP'. Its output stays a pipe (read it on, or it
    blocks once full) or goes to ``log``."""
    cfg = folder / "settings.yml"
    cfg.write_text(settings)
    port = port or free_port()
    worker_base = free_port(workers)
    full_env = {
        **os.environ,
        "VOICEBOT_CONFIG": str(cfg),
        "VOICEBOT_VAR": str(folder / "var"),
        "PYTHONPATH": str(ROOT),
        **(env or {}),
    }
    args = ["--demo", "--demo-record-dir", str(folder / "calls")] if demo else []
    out = open(log, "w") if log is not None else subprocess.PIPE  # noqa: SIM115 - the child's
    proc = subprocess.Popen(
        [PYTHON, "-m", "voicebot.cli", "serve", *args, "--port", str(port),
         "--workers", str(workers), "--worker-base-port", str(worker_base),
         "--rtp-base-port", str(free_port(40 * workers))],
        stdout=out, stderr=subprocess.STDOUT, text=True, env=full_env, cwd=ROOT,
    )  # fmt: skip
    seen = ""
    end = time.monotonic() + timeout_s
    if log is not None:
        while "answering SIP" not in seen and proc.poll() is None and time.monotonic() < end:
            time.sleep(0.1)
            seen = log.read_text(errors="replace")
    else:
        assert proc.stdout is not None
        while "answering SIP" not in seen and proc.poll() is None and seen.count("\n") < 80:
            seen += proc.stdout.readline()
    served = ServeProcess(
        proc,
        port,
        [worker_base + i for i in range(workers)],
        folder,
        seen,
        out if not isinstance(out, int) else None,
    )
    if "answering SIP" not in seen or proc.poll() is not None:
        served.stop(10)
        rest = proc.stdout.read() if proc.stdout is not None else ""
        raise AssertionError(f"voicebot serve did not start:\n{seen}{rest}")
    return served


def run_caller(folder: Path, target: str, **opts: object) -> dict:
    """Run tests/sip/caller.py (a pjsua2 phone in its own process); its JSON report."""
    report = folder / f"caller-{uuid.uuid4().hex[:6]}.json"
    cmd = [
        PYTHON,
        str(HERE / "caller.py"),
        "--target",
        target,
        "--port",
        str(free_port()),
        "--rtp-port",
        str(free_port(4)),
        "--report",
        str(report),
    ]
    for key, value in opts.items():
        cmd += [f"--{key.replace('_', '-')}"] + ([str(value)] if value != "" else [])
    limit = max(60.0, float(str(opts.get("duration", 0))) + 40)  # long calls wait longer
    out = subprocess.run(cmd, capture_output=True, timeout=limit, cwd=folder)
    assert out.returncode == 0, out.stdout.decode(errors="replace")[-2000:]
    return json.loads(report.read_text())


def read_wav(path: Path) -> array.array:
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        return array.array("h", w.readframes(w.getnframes()))


def frame_dbfs(samples: array.array, frame: int = 160) -> list[float]:
    """Level of each 20 ms frame in dBFS."""
    out = []
    for i in range(0, len(samples) - frame + 1, frame):
        chunk = samples[i : i + frame]
        rms = math.sqrt(sum(x * x for x in chunk) / frame) or 1e-9
        out.append(20 * math.log10(rms / 32768))
    return out


def tone_share(samples: array.array, freq_hz: float, rate: int = 8000) -> float:
    """Share of the signal's energy at ``freq_hz`` (Goertzel over 20 ms frames, best frames)."""
    n = rate // 50
    coeff = 2 * math.cos(2 * math.pi * freq_hz / rate)
    best = 0.0
    for i in range(0, len(samples) - n + 1, n):
        chunk = samples[i : i + n]
        s1 = s2 = 0.0
        for x in chunk:
            s1, s2 = x + coeff * s1 - s2, s1
        power = s1 * s1 + s2 * s2 - coeff * s1 * s2
        total = sum(x * x for x in chunk) * n / 2
        if total > 1e6:
            best = max(best, power / total)
    return best


@pytest.fixture(scope="module")
def sip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sip")


@pytest.fixture(scope="module")
def worker(sip_dir: Path) -> Iterator[Worker]:
    """One demo worker for the module; transfers on digit 9 to an agent port."""
    require_peers()
    agent_port = free_port()
    folder = sip_dir / "worker"
    folder.mkdir()
    w = start_worker(folder, VOICEBOT_DEMO_TRANSFER=f"sip:agent@127.0.0.1:{agent_port}")
    w.env["agent_port"] = str(agent_port)
    yield w
    assert w.stop() == 0, w.log.read_text(errors="replace")[-3000:]
    # every call released: no Call objects, only the clock's port left in the bridge
    assert "0 call object(s), 0 of" in w.log.read_text(errors="replace")
