#!/usr/bin/env python3
"""Start-up: time from ``voicebot serve`` to the first call answered and its greeting heard.

Starts ``voicebot serve`` (one worker, the real pipeline: action server, speech and dialog
services, Kamailio) in a fresh var/ folder on 127.0.0.1, timestamps every progress line it
prints (each service's start-up stages and ready time, "answering SIP"), and from the moment
it answers rings it with a real SIP caller (tests/sip/caller.py, pjsua2) that records what
it hears. Reported, in seconds from the start of ``voicebot serve``:

* ``<service>_ready_s`` per service and ``services_ready_s``, ``answering_sip_s``;
* ``call_answered_s``: the caller's 200 OK;
* ``greeting_heard_s``: the first bot audio in the caller's recording (-40 dBFS);
* ``dialog_stages_s``: the dialog service's own log (model unpack/load, warm-up).

The target is ``greeting_heard_s`` <= 60 on this machine. Times depend on load: the
machine's load average at start is written next to them (numbers taken while other jobs
load the cores are inflated; run it on a quiet machine for the real figure). ``--runs N``
repeats the whole start (the second start finds the unpacked-model cache warm).
Network: 127.0.0.1 only. Writes ``bench/results/startup.json``.

Usage::

    .venv/bin/python bench/startup.py --runs 2
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from sip_load import free_port  # noqa: E402

CALLER = ROOT / "tests" / "sip" / "caller.py"
STAGE = re.compile(r"voicebot: (speech|dialog) service: (.+) \((\d+) s\)$")
RATE = 8000


def first_audio_s(record: Path, threshold_dbfs: float = -40.0) -> float | None:
    """Seconds from the start of the recording to the first 20 ms frame above threshold."""
    audio, rate = sf.read(str(record), dtype="int16")
    if audio.ndim > 1:
        audio = audio[:, 0]
    n = rate // 50
    frames = audio[: len(audio) // n * n].reshape(-1, n).astype(np.float64)
    level = 20 * np.log10(np.sqrt((frames**2).mean(axis=1)) / 32768 + 1e-9)
    loud = np.flatnonzero(level > threshold_dbfs)
    return float(loud[0] * 0.02) if loud.size else None


def one_start(folder: Path, timeout_s: float) -> dict:
    """One ``voicebot serve`` from cold process start to the first greeting heard."""
    var = folder / "var"
    var.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cfg = folder / "settings.yml"
    cfg.write_text(
        f"sip:\n  rtp_ports: 20\n  shutdown_grace_s: 5\n  worker_start_s: 900\n"
        f"dialog:\n  action_endpoint: http://127.0.0.1:{free_port()}/webhook\n"
        f"services:\n  start_timeout_s: {timeout_s:.0f}\n"
    )
    env = {**os.environ, "VOICEBOT_CONFIG": str(cfg), "VOICEBOT_VAR": str(var)}
    env["PYTHONPATH"] = str(ROOT)
    lines: list[tuple[float, str]] = []
    load = round(os.getloadavg()[0], 2)
    started = time.monotonic()
    serve = subprocess.Popen(
        [sys.executable, "-m", "voicebot.cli", "serve", "--port", str(port), "--workers", "1",
         "--worker-base-port", str(free_port(1)), "--rtp-base-port", str(free_port(20))],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    assert serve.stdout is not None
    answering = threading.Event()

    def read() -> None:
        assert serve.stdout is not None
        for line in serve.stdout:
            lines.append((time.monotonic() - started, line.rstrip()))
            print(f"{lines[-1][0]:6.1f} {line.rstrip()}", file=sys.stderr, flush=True)
            if "answering SIP" in line:
                answering.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        while not answering.wait(0.2):
            if serve.poll() is not None or time.monotonic() - started > timeout_s:
                raise SystemExit("voicebot serve did not start:\n" + "\n".join(t for _, t in lines))
        answering_s = time.monotonic() - started
        silence = folder / "silence.wav"
        sf.write(str(silence), np.zeros(RATE * 12, np.int16), RATE, subtype="PCM_16")
        record, report = folder / "heard.wav", folder / "caller.json"
        wall0 = time.time() - (time.monotonic() - started)  # wall clock of the start
        called_at = time.monotonic() - started
        out = subprocess.run(
            [sys.executable, str(CALLER), "--target", f"sip:bot@127.0.0.1:{port}",
             "--port", str(free_port()), "--rtp-port", str(free_port(4)),
             "--play", str(silence), "--record", str(record), "--duration", "12",
             "--report", str(report)],
            capture_output=True, text=True, timeout=120, cwd=folder,
        )  # fmt: skip
        if out.returncode != 0:
            raise SystemExit(f"caller failed:\n{out.stdout[-2000:]}")
        data = json.loads(report.read_text())
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(120)
        except subprocess.TimeoutExpired:
            serve.kill()
    answered = next(
        (e for e in data["events"] if e["event"] == "state" and e.get("code") == 200), None
    )
    if answered is None or "started_at" not in data:
        raise SystemExit(f"the call was not answered: {data}")
    answered_s = data["started_at"] + answered["t"] - wall0
    onset = first_audio_s(record)
    stages: dict[str, dict[str, float]] = {}
    for _, line in lines:
        m = STAGE.search(line)
        if m:
            stages.setdefault(m.group(1), {})[m.group(2)] = float(m.group(3))
    return {
        "loadavg_1m_at_start": load,
        "speech_ready_s": stages.get("speech", {}).get("ready"),
        "dialog_ready_s": stages.get("dialog", {}).get("ready"),
        "stages_s": stages,
        "dialog_log": dialog_log(var / "services" / "dialog.log"),
        "answering_sip_s": round(answering_s, 1),
        "caller_started_s": round(called_at, 1),
        "call_answered_s": round(answered_s, 1),
        "greeting_heard_s": round(answered_s + onset, 1) if onset is not None else None,
    }


def dialog_log(path: Path) -> list[str]:
    """The dialog service's own timing lines (model cache, load, warm-up)."""
    if not path.exists():
        return []
    keep = ("model", "warm", "ready", "tracker")
    return [
        line.split(" INFO ", 1)[-1]
        for line in path.read_text(errors="replace").splitlines()
        if " INFO " in line and any(k in line for k in keep)
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=900.0, help="give up after, s")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "startup.json")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="voicebot-startup-"))
    runs = []
    try:
        for i in range(args.runs):
            run = one_start(folder / f"run-{i}", args.timeout)
            runs.append(run)
            print(json.dumps(run), flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result = {
        "what": "voicebot serve (1 worker, real pipeline) to the first SIP call answered and "
        "its greeting heard by a pjsua2 caller on 127.0.0.1",
        "target_s": 60,
        "cpus": os.cpu_count(),
        "note": "times grow with the machine's load: compare loadavg_1m_at_start; a quiet "
        "machine gives the real figure",
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
