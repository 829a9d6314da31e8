#!/usr/bin/env python3
"""Simultaneous SIP calls through ``voicebot serve`` (Kamailio + workers), measured.

For each N: N SIPp callers at once, each playing the A-law speech pcap for ``--speech-s``
seconds, then digits 1 2 3 (RFC 4733) and 5 (SIP INFO), then BYE, into the demo handler
(which plays beeps and records every caller frame). Reports failed calls, caller frames the
handler got (20 ms each; missing ones mean dropped audio), digits right, and CPU (% of one
core) and RSS of the workers and Kamailio sampled from /proc every 0.5 s. Writes
``bench/results/sip_load.json``. Turn latency of the voice pipeline is added later.

Usage: .venv/bin/python bench/sip_load.py [--calls 1,4,16,24] [--speech-s 8]
Needs Debian ``sip-tester`` (sipp) and ``kamailio``; uses 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "tests" / "sip" / "scenarios" / "uac_speech_dtmf.xml"
PCAP_DIR = (
    Path(os.environ.get("VOICEBOT_SIP_EVAL", ROOT.parent / "shared" / "eval" / "sip")) / "pcap"
)
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port(span: int = 1) -> int:
    """A port (and the ``span - 1`` above it) free for UDP and TCP on 127.0.0.1."""
    import random

    for _ in range(500):
        base = random.randrange(21000, 59000 - span)
        socks = []
        try:
            for p in range(base, base + span):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    s = socket.socket(socket.AF_INET, kind)
                    socks.append(s)
                    s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port range")


def children(pid: int) -> list[int]:
    """All descendants of ``pid`` (from /proc)."""
    parent: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parent.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in parent.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def proc_sample(pid: int) -> tuple[str, float, float] | None:
    """(name, cpu seconds, rss MB) of one process."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        statm = Path(f"/proc/{pid}/statm").read_text().split()
    except OSError:
        return None
    cpu = (int(fields[11]) + int(fields[12])) / TICK
    rss = int(statm[1]) * PAGE / 2**20
    kind = "kamailio" if "kamailio" in cmd else "worker" if "telephony.worker" in cmd else "other"
    return kind, cpu, rss


class Sampler(threading.Thread):
    """CPU % (of one core) and RSS of the serve command's workers and Kamailio."""

    def __init__(self, root_pid: int, every_s: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.root, self.every = root_pid, every_s
        self.samples: list[dict[str, float]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        last: dict[int, float] = {}
        last_t = time.monotonic()
        while not self._halt.wait(self.every):
            now = time.monotonic()
            row = {
                "worker_cpu": 0.0,
                "kamailio_cpu": 0.0,
                "worker_rss": 0.0,
                "kamailio_rss": 0.0,
                "worker_max_rss": 0.0,
            }
            for pid in children(self.root):
                s = proc_sample(pid)
                if s is None or s[0] == "other":
                    continue
                kind, cpu, rss = s
                if pid in last:
                    row[f"{kind}_cpu"] += 100 * (cpu - last[pid]) / (now - last_t)
                last[pid] = cpu
                row[f"{kind}_rss"] += rss
                if kind == "worker":
                    row["worker_max_rss"] = max(row["worker_max_rss"], rss)
            last_t = now
            self.samples.append(row)

    def stop(self) -> dict[str, float]:
        self._halt.set()
        self.join()
        rows = self.samples[1:] or self.samples
        if not rows:
            return {}

        def stat(key: str, fn: str) -> float:
            values = [r[key] for r in rows]
            return round(max(values) if fn == "max" else sum(values) / len(values), 1)

        return {
            "workers_cpu_pct_mean": stat("worker_cpu", "mean"),
            "workers_cpu_pct_peak": stat("worker_cpu", "max"),
            "kamailio_cpu_pct_mean": stat("kamailio_cpu", "mean"),
            "workers_rss_mb_total_peak": stat("worker_rss", "max"),
            "worker_rss_mb_peak": stat("worker_max_rss", "max"),
            "kamailio_rss_mb_peak": stat("kamailio_rss", "max"),
        }


def run_level(
    n: int, target: str, folder: Path, speech_s: float, record: Path, limit: int = 0
) -> dict:
    """N calls, ``limit`` at a time (0: all at once)."""
    limit = limit or n
    scenario = folder / f"uac-{n}.xml"
    scenario.write_text(
        SCENARIO.read_text()
        .replace("{PCAP_DIR}", str(PCAP_DIR))
        .replace("{SPEECH_MS}", str(int(speech_s * 1000)))
    )
    before = set(record.glob("*.json"))
    tag = uuid.uuid4().hex[:6]
    stats = folder / f"{tag}.csv"
    cmd = [
        "sipp",
        "-sf",
        str(scenario),
        "-i",
        "127.0.0.1",
        "-p",
        str(free_port()),
        "-mp",
        str(free_port(4 * limit + 4)),
        "-m",
        str(n),
        "-l",
        str(limit),
        "-r",
        "100",
        "-timeout",
        f"{int((speech_s + 3) * n / limit + 60)}s",
        "-timeout_error",
        "-nostdin",
        "-trace_msg",
        "-message_file",
        str(folder / f"{tag}.msg"),
        "-trace_stat",
        "-stf",
        str(stats),
        "-trace_err",
        "-error_file",
        str(folder / f"{tag}.err"),
        "-s",
        "bot",
        target,
    ]
    t0 = time.monotonic()
    rc = subprocess.run(
        cmd, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ).returncode
    wall = time.monotonic() - t0
    ok = failed = 0
    lines = stats.read_text().splitlines() if stats.exists() else []
    if len(lines) >= 2:
        row = dict(zip(lines[0].split(";"), lines[-1].split(";"), strict=False))
        ok, failed = int(row.get("SuccessfulCall(C)", 0)), int(row.get("FailedCall(C)", 0))
    deadline = time.monotonic() + 10
    while len(set(record.glob("*.json")) - before) < ok and time.monotonic() < deadline:
        time.sleep(0.2)
    reports = [json.loads(p.read_text()) for p in set(record.glob("*.json")) - before]
    expected_frames = (speech_s + 1.5) * 50  # speech + digits, 20 ms frames
    frames = [r["frames"] for r in reports]
    digits_ok = sum(1 for r in reports if [d["digit"] for d in r["digits"]] == ["1", "2", "3", "5"])
    return {
        "calls": n,
        "sipp_exit": rc,
        "successful": ok,
        "failed": failed,
        "handler_reports": len(reports),
        "digits_right": digits_ok,
        "frames_min": min(frames, default=0),
        "frames_mean": round(sum(frames) / len(frames), 1) if frames else 0,
        "frames_expected_about": int(expected_frames),
        "frames_dropped": sum(r.get("frames_dropped", 0) for r in reports),
        "workers_used": len({r.get("worker_pid") for r in reports}),
        "wall_s": round(wall, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", default="1,4,16,24", help="comma-separated N")
    ap.add_argument("--speech-s", type=float, default=8.0, help="speech per call, seconds")
    ap.add_argument("--workers", type=int, default=0, help="default: ceil(max N / 4)")
    ap.add_argument(
        "--soak",
        type=int,
        default=0,
        help="then this many short calls, all workers full, to catch leaks",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "sip_load.json")
    args = ap.parse_args()
    if not shutil.which("sipp") or not Path("/usr/sbin/kamailio").exists():
        print("needs sipp (sip-tester) and kamailio", file=sys.stderr)
        return 2
    levels = [int(x) for x in args.calls.split(",")]
    workers = args.workers or math.ceil(max(levels) / 4)
    folder = Path(tempfile.mkdtemp(prefix="sip-load-"))
    record = folder / "calls"
    cfg = folder / "settings.yml"
    cfg.write_text("sip:\n  rtp_ports: 40\n  shutdown_grace_s: 10\n")
    port = free_port()
    env = {
        **os.environ,
        "VOICEBOT_CONFIG": str(cfg),
        "VOICEBOT_VAR": str(folder / "var"),
        "PYTHONPATH": str(ROOT),
    }
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "voicebot.cli",
            "serve",
            "--demo",
            "--demo-record-dir",
            str(record),
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--worker-base-port",
            str(free_port(workers)),
            "--rtp-base-port",
            str(free_port(40 * workers)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert serve.stdout is not None
    first = ""
    while "answering SIP" not in first and serve.poll() is None and first.count("\n") < 50:
        first += serve.stdout.readline()
    if "answering SIP" not in first:
        print(first + serve.stdout.read(), file=sys.stderr)
        return 1
    results = []
    try:
        idle = Sampler(serve.pid)
        idle.start()
        time.sleep(2.0)
        idle_stats = idle.stop()
        for n in levels:
            sampler = Sampler(serve.pid)
            sampler.start()
            row = run_level(n, f"127.0.0.1:{port}", folder, args.speech_s, record)
            row.update(sampler.stop())
            row["loadavg_1m"] = os.getloadavg()[0]
            results.append(row)
            print(json.dumps(row), flush=True)
            time.sleep(1.0)
        if args.soak:
            sampler = Sampler(serve.pid)
            sampler.start()
            row = run_level(args.soak, f"127.0.0.1:{port}", folder, 0.5, record, 4 * workers)
            row.update(sampler.stop())
            row["soak"] = True
            row["rss_mb_first_last"] = [
                round(sampler.samples[0]["worker_rss"], 1) if sampler.samples else 0,
                round(sampler.samples[-1]["worker_rss"], 1) if sampler.samples else 0,
            ]
            results.append(row)
            print(json.dumps(row), flush=True)
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(60)
    out = {
        "what": "simultaneous SIP calls through voicebot serve (Kamailio + pjsua2 workers), "
        "demo handler, SIPp callers playing A-law speech",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "note": "CPU shared with other jobs; % is of one core",
        },
        "workers": workers,
        "calls_per_worker": 4,
        "speech_s": args.speech_s,
        "trace_dir": str(folder),
        "idle": idle_stats,
        "levels": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0 if all(r["failed"] == 0 for r in results) else 1


def _exit_on_term(signum: int, _frame: object) -> None:
    """SIGTERM (``kill``, a CI timeout) stops the run through ``finally``: no orphaned servers."""
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _exit_on_term)
    sys.exit(main())
