#!/usr/bin/env python3
"""CPU per call-second of each process type of ``voicebot serve`` (issue 11's CPU budget).

Starts ``voicebot serve`` (shared services, ``--workers`` thin call workers behind Kamailio)
and runs the three-turn callers of ``bench/voice_load.py`` at each level. For every level
it reads the CPU time (user + system, from /proc/PID/stat) of every process under serve at
the start and end of the level, per process type (worker, speech, dialog, kamailio,
actions, serve), and divides by the call-seconds carried (sum over calls of answer ->
hang-up, from the callers' reports). Before the first level it measures the idle rate
(CPU ms per wall second per process, no call up), so a level's figure is also given with
the idle cost of the processes taken out: what one more call-second costs.

CPU time per call-second barely depends on other load on the machine (unlike latency), but
the 1-minute load average is written with the results.

Optionally ``--profile S`` records worker-0 with py-spy (``--native``, speedscope format)
for S seconds of the largest level (needs /tmp/pyspy/bin/py-spy or py-spy on PATH).

Usage::

    .venv/bin/python bench/worker_cpu.py --calls 4,16 --workers 4 --label after

Writes (merges the label into) ``bench/results/worker_cpu.json``. Network: 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
import voice_load as vl  # noqa: E402
from sip_load import children, free_port  # noqa: E402

IDLE_S = 20.0
"""Seconds of idle measurement before the first level."""


def cpu_by_kind(root: int) -> dict[str, dict[str, float]]:
    """Per process type: CPU seconds so far (user + system) and the number of processes."""
    out: dict[str, dict[str, float]] = {}
    for pid in [root, *children(root)]:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError, ValueError):
            continue
        kind = next((k for k, key in vl.KINDS if key in cmd), "other")
        entry = out.setdefault(kind, {"cpu_s": 0.0, "procs": 0})
        entry["cpu_s"] += (int(fields[11]) + int(fields[12])) / vl.TICK
        entry["procs"] += 1
    return out


def cpu_delta(a: dict, b: dict) -> dict[str, float]:
    """CPU ms per process type between two :func:`cpu_by_kind` snapshots."""
    return {
        k: round(1000 * (b[k]["cpu_s"] - a.get(k, {}).get("cpu_s", 0.0)), 1)
        for k in b
        if b[k]["cpu_s"] - a.get(k, {}).get("cpu_s", 0.0) > 0
    }


def call_seconds(folder: Path, n: int) -> float:
    """Sum over the level's callers of answered -> disconnected, s (their JSON reports)."""
    total = 0.0
    for i in range(n):
        try:
            events = json.loads((folder / f"caller-{i}.json").read_text())["events"]
        except (OSError, ValueError, KeyError):
            continue
        states = [e for e in events if e.get("event") == "state" and e.get("call") == "bot"]
        up = next((e["t"] for e in states if e.get("state") == "CONFIRMED"), None)
        down = next((e["t"] for e in states if str(e.get("state")).startswith("DISCONN")), None)
        if up is not None and down is not None and down > up:
            total += down - up
    return round(total, 1)


def worker_pids(root: int) -> list[int]:
    pids = []
    for pid in children(root):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"telephony.worker" in cmd:
            pids.append(pid)
    return sorted(pids)


def pyspy() -> str | None:
    for path in ("/tmp/pyspy/bin/py-spy", shutil.which("py-spy")):
        if path and os.access(path, os.X_OK):
            return path
    return None


def profile(pid: int, seconds: float, out: Path) -> subprocess.Popen | None:
    tool = pyspy()
    if tool is None:
        print("py-spy not found: no profile", file=sys.stderr)
        return None
    env = {**os.environ, "PYTHONPATH": f"/tmp/pyspy:{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen(
        [tool, "record", "--pid", str(pid), "--native", "--rate", "100", "--format",
         "speedscope", "--duration", str(int(seconds)), "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=open(out.with_suffix(".log"), "w"), env=env,
    )  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", default="4,16")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--label", default="after", help="key in the results file (before/after)")
    ap.add_argument("--note", default="", help="what this label's code is")
    ap.add_argument("--spread", type=float, default=10.0)
    ap.add_argument("--profile", type=float, default=0.0, help="py-spy worker-0 for S s")
    ap.add_argument("--profile-out", type=Path, default=Path("/tmp/worker_cpu_profile.json"))
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "worker_cpu.json")
    args = ap.parse_args()
    levels = [int(x) for x in args.calls.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="worker-cpu-"))
    cfg = folder / "settings.yml"
    port = free_port()
    cfg.write_text(
        f"sip:\n  rtp_ports: 40\n  shutdown_grace_s: 10\n  worker_start_s: 900\n"
        f"dialog:\n  action_endpoint: http://127.0.0.1:{free_port()}/webhook\n"
        f"services:\n  mode: shared\n"
    )
    var = folder / "var"
    var.mkdir()
    cache = ROOT / "var" / "tts-cache"
    if cache.is_dir():
        os.symlink(cache, var / "tts-cache")
    env = {**os.environ, "VOICEBOT_CONFIG": str(cfg), "VOICEBOT_VAR": str(var),
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    os.environ.update({k: env[k] for k in ("VOICEBOT_CONFIG", "VOICEBOT_VAR", "PYTHONPATH")})
    load_at_start = round(os.getloadavg()[0], 2)
    serve = subprocess.Popen(
        [sys.executable, "-m", "voicebot.cli", "serve", "--port", str(port),
         "--workers", str(args.workers), "--worker-base-port", str(free_port(args.workers)),
         "--rtp-base-port", str(free_port(40 * args.workers))],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    assert serve.stdout is not None
    rows = []
    try:
        answering = False
        for line in serve.stdout:
            print(line, end="", file=sys.stderr)
            if "answering SIP" in line:
                answering = True
                break
        if not answering:
            return 1
        threading.Thread(target=lambda: [None for _ in serve.stdout], daemon=True).start()  # type: ignore[union-attr]
        time.sleep(5.0)  # let start-up work settle
        a = cpu_by_kind(serve.pid)
        t0 = time.monotonic()
        time.sleep(IDLE_S)
        idle_wall = time.monotonic() - t0
        b = cpu_by_kind(serve.pid)
        idle = {
            k: round(ms / idle_wall / max(1, b[k]["procs"]), 2) for k, ms in cpu_delta(a, b).items()
        }
        procs = {k: int(v["procs"]) for k, v in b.items()}
        print(f"idle CPU ms per s per process: {idle}", file=sys.stderr)
        for n in levels:
            spy = None
            if args.profile and n == max(levels):
                pids = worker_pids(serve.pid)
                if pids:
                    spy = profile(pids[0], args.profile, args.profile_out)
            load = round(os.getloadavg()[0], 2)
            a = cpu_by_kind(serve.pid)
            t0 = time.monotonic()
            row = vl.run_level(n, f"sip:bot@127.0.0.1:{port}", folder, serve.pid, args.spread)
            wall = time.monotonic() - t0
            b = cpu_by_kind(serve.pid)
            used = cpu_delta(a, b)
            call_s = call_seconds(folder, n)
            above = {
                k: round((ms - idle.get(k, 0.0) * wall * procs.get(k, 0)) / max(call_s, 1e-9), 2)
                for k, ms in used.items()
            }
            out_row = {
                "calls": n,
                "failed_calls": row["failed_calls"],
                "turns": row["turns"],
                "latency_ms_p50": row["latency_ms_p50"],
                "latency_ms_p95": row["latency_ms_p95"],
                "wall_s": round(wall, 1),
                "call_s": call_s,
                "cpu_ms": used,
                "cpu_ms_per_call_s": {
                    k: round(ms / max(call_s, 1e-9), 2) for k, ms in used.items()
                },
                "cpu_ms_per_call_s_above_idle": above,
                "cpu_ms_per_call_s_above_idle_total": round(sum(above.values()), 2),
                "loadavg_1m_at_start": load,
                "service_ms": row["service_ms"],
            }
            if spy is not None:
                spy.wait(args.profile + 60)
                out_row["profile"] = str(args.profile_out)
            rows.append(out_row)
            print(json.dumps(out_row), flush=True)
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(180)
    data = json.loads(args.out.read_text()) if args.out.exists() else {}
    data.setdefault(
        "what",
        "CPU ms per call-second of each process type of voicebot serve (user+system time "
        "from /proc), voice_load's three-turn callers; 'above_idle' takes out each "
        "process's idle rate measured before the calls. 1000 ms per call-second = one core "
        "per call.",
    )
    data[args.label] = {
        "note": args.note,
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "loadavg_1m_at_start": load_at_start,
        "idle_cpu_ms_per_s_per_process": idle,
        "processes": procs,
        "levels": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, vl._exit_on_term)
    sys.exit(main())
