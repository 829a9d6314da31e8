#!/usr/bin/env python3
"""Simultaneous calls to the real voice pipeline through ``voicebot serve``: turn latency.

For each N, N pjsua2 callers (tests/sip/caller.py, each its own process) ring the line at
once; each waits for the greeting, asks for the opening hours with a recorded espeak-ng
voice, and hangs up after the answer. The workers log every turn's latency (end of caller
speech to first bot audio: endpoint + ASR + dialog + TTS); this reports p50/p95, failed
calls, and CPU/RSS of the workers (sampled like bench/sip_load.py), and writes
``bench/results/voice_load.json``.

Usage: .venv/bin/python bench/voice_load.py [--calls 1,4,8] [--workers W]
Each worker loads the whole pipeline (about 1.8 GB): W workers need W x 1.8 GB of memory.
Network: 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
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
from sip_load import Sampler, free_port  # noqa: E402

CALLER = ROOT / "tests" / "sip" / "caller.py"
REQUEST = ROOT / "tests" / "audio" / "silence_then_request" / "02.wav"
TURN = re.compile(
    r"turn \d+: intent=(\S+) .*latency_ms=([\d.]+|None) \(endpoint ([\d.]+), asr ([\d.]+), dialog ([\d.]+), tts ([\d.]+)\)"  # noqa: E501
)


def worker_log_size(folder: Path) -> dict[Path, int]:
    """Current size of each worker's log (workers log to var/sip/worker-N.log)."""
    return {p: p.stat().st_size for p in (folder / "var" / "sip").glob("worker-*.log")}


def worker_log_lines(folder: Path, since: dict[Path, int]) -> list[str]:
    lines: list[str] = []
    for p in (folder / "var" / "sip").glob("worker-*.log"):
        with open(p, encoding="utf-8", errors="replace") as fh:
            fh.seek(since.get(p, 0))
            lines += fh.read().splitlines()
    return lines


def caller_wav(folder: Path) -> Path:
    speech, rate = sf.read(str(REQUEST), dtype="int16")
    audio = np.concatenate([np.zeros(9 * rate, np.int16), speech])
    path = folder / "caller.wav"
    sf.write(str(path), audio, rate, subtype="PCM_16")
    return path


def call(target: str, play: Path, folder: Path, user: str, results: list[dict]) -> None:
    report = folder / f"{user}.json"
    proc = subprocess.run(
        [sys.executable, str(CALLER), "--target", target, "--port", str(free_port()),
         "--rtp-port", str(free_port(4)), "--play", str(play), "--duration", "22",
         "--report", str(report), "--user", user],
        capture_output=True, timeout=90,
    )  # fmt: skip
    ok = proc.returncode == 0 and report.exists()
    codes = []
    if ok:
        codes = [e.get("code") for e in json.loads(report.read_text())["events"]]
    results.append({"user": user, "ok": ok and 200 in codes})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", default="1,4,8")
    ap.add_argument("--workers", type=int, default=0, help="default: ceil(max N / 4)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "voice_load.json")
    args = ap.parse_args()
    levels = [int(x) for x in args.calls.split(",")]
    workers = args.workers or math.ceil(max(levels) / 4)
    folder = Path(tempfile.mkdtemp(prefix="voice-load-"))
    cfg = folder / "settings.yml"
    port = free_port()
    cfg.write_text(
        f"sip:\n  rtp_ports: 40\n  shutdown_grace_s: 10\n  worker_start_s: 900\n"
        f"dialog:\n  action_endpoint: http://127.0.0.1:{free_port()}/webhook\n"
    )
    env = {**os.environ, "VOICEBOT_CONFIG": str(cfg), "VOICEBOT_VAR": str(folder / "var")}
    log_lines: list[str] = []
    started = time.monotonic()
    serve = subprocess.Popen(
        [sys.executable, "-m", "voicebot.cli", "serve", "--port", str(port),
         "--workers", str(workers), "--worker-base-port", str(free_port(workers)),
         "--rtp-base-port", str(free_port(40 * workers))],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    assert serve.stdout is not None
    for line in serve.stdout:
        log_lines.append(line)
        if "answering SIP" in line or serve.poll() is not None:
            break
    if not any("answering SIP" in line for line in log_lines):
        print("".join(log_lines[-40:]), file=sys.stderr)
        return 1
    load_s = time.monotonic() - started
    reader = threading.Thread(target=lambda: log_lines.extend(serve.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    play = caller_wav(folder)
    rows = []
    try:
        for n in levels:
            mark = worker_log_size(folder)
            sampler = Sampler(serve.pid)
            sampler.start()
            results: list[dict] = []
            threads = [
                threading.Thread(
                    target=call,
                    args=(f"sip:bot@127.0.0.1:{port}", play, folder, f"06{n:02d}{i:06d}", results),
                )
                for i in range(n)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            time.sleep(3.0)
            turns = [m for line in worker_log_lines(folder, mark) if (m := TURN.search(line))]
            lat = [float(m.group(2)) for m in turns if m.group(2) != "None"]
            row = {
                "calls": n,
                "failed_calls": sum(not r["ok"] for r in results),
                "turns": len(lat),
                "latency_ms_p50": round(float(np.percentile(lat, 50)), 1) if lat else None,
                "latency_ms_p95": round(float(np.percentile(lat, 95)), 1) if lat else None,
                "stage_mean_ms": {
                    name: round(float(np.mean([float(m.group(i)) for m in turns])), 1)
                    for i, name in ((3, "endpoint"), (4, "asr"), (5, "dialog"), (6, "tts"))
                }
                if turns
                else {},
                "intents": sorted({m.group(1) for m in turns}),
                **sampler.stop(),
                "loadavg_1m": os.getloadavg()[0],
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(120)
    out = {
        "what": "simultaneous calls to the real voice pipeline (Whisper, Rasa, Piper) through "
        "voicebot serve; pjsua2 callers asking for the opening hours",
        "workers": workers,
        "pipeline_load_s": round(load_s, 1),
        "cpus": os.cpu_count(),
        "levels": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
