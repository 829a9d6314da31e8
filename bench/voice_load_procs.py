"""bench/voice_load.py's process probes: CPU, RSS and PSS of every process under
``voicebot serve`` by role (workers, speech, dialog, action server, Kamailio, Redis), read
from /proc every half second, and bench/rtp_probe.py run for one level in its own process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from sip_load import children

from voicebot.services.priority import group_nice_of

PROBE = Path(__file__).resolve().parent / "rtp_probe.py"
KINDS = (
    ("kamailio", "kamailio"),
    ("worker", "telephony.worker"),
    ("speech", "services.speech"),
    ("dialog", "services.dialog"),
    ("actions", "rasa_sdk"),
    ("redis", "redis-server"),
    ("serve", "voicebot.cli serve"),
)
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def pss_mb(pid: int) -> float:
    """Proportional set size (MB): shared pages (libpython, NumPy, onnxruntime and pjsua2
    libraries mapped by every worker) counted once across processes, unlike RSS."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1000
    return 0.0


class Sampler(threading.Thread):
    """CPU (% of one core), RSS and PSS (MB) of every process under ``voicebot serve``."""

    def __init__(self, root: int, every_s: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.root, self.every = root, every_s
        self.rows: list[dict[str, float]] = []
        self.nice: dict[str, set[int]] = {}
        self.group_nice: dict[str, set[int | None]] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        last: dict[int, float] = {}
        last_t = time.monotonic()
        while not self._halt.wait(self.every):
            now = time.monotonic()
            row: dict[str, float] = {"loadavg_1m": os.getloadavg()[0]}
            for pid in [self.root, *children(self.root)]:
                try:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 1e6
                    pss = pss_mb(pid)
                except (OSError, IndexError, ValueError):
                    continue
                kind = next((k for k, key in KINDS if key in cmd), "other")
                if not cmd.startswith("nice "):  # (not yet exec'd into the process it starts)
                    self.nice.setdefault(kind, set()).add(int(fields[16]))
                    self.group_nice.setdefault(kind, set()).add(group_nice_of(pid))
                cpu = (int(fields[11]) + int(fields[12])) / TICK
                if pid in last:
                    row[f"{kind}_cpu"] = row.get(f"{kind}_cpu", 0.0) + 100 * (cpu - last[pid]) / (
                        now - last_t
                    )
                last[pid] = cpu
                row[f"{kind}_rss"] = row.get(f"{kind}_rss", 0.0) + rss
                row["total_rss"] = row.get("total_rss", 0.0) + rss
                row[f"{kind}_pss"] = row.get(f"{kind}_pss", 0.0) + pss
                row["total_pss"] = row.get("total_pss", 0.0) + pss
                if kind == "worker":
                    row["worker_max_rss"] = max(row.get("worker_max_rss", 0.0), rss)
            last_t = now
            self.rows.append(row)

    def stop(self) -> dict[str, object]:
        self._halt.set()
        self.join()
        rows = self.rows[1:] or self.rows
        if not rows:
            return {}

        def peak(key: str) -> float:
            return round(max(r.get(key, 0.0) for r in rows), 1)

        def mean(key: str) -> float:
            return round(sum(r.get(key, 0.0) for r in rows) / len(rows), 1)

        kinds = [k for k, _ in KINDS] + ["other"]
        return {
            "rss_mb_total_peak": peak("total_rss"),
            "rss_mb_peak": {k: peak(f"{k}_rss") for k in kinds if peak(f"{k}_rss")},
            "worker_rss_mb_peak": peak("worker_max_rss"),
            "pss_mb_total_peak": peak("total_pss"),
            "pss_mb_peak": {k: peak(f"{k}_pss") for k in kinds if peak(f"{k}_pss")},
            "cpu_pct_mean": {k: mean(f"{k}_cpu") for k in kinds if mean(f"{k}_cpu")},
            "cpu_pct_total_mean": round(sum(mean(f"{k}_cpu") for k in kinds), 1),
            "loadavg_1m": {
                "min": round(min(r["loadavg_1m"] for r in rows), 2),
                "mean": mean("loadavg_1m"),
                "max": peak("loadavg_1m"),
            },
            "nice_by_role": {k: sorted(v) for k, v in sorted(self.nice.items())},
            "autogroup_nice_by_role": {
                k: sorted(v, key=lambda x: -99 if x is None else x)
                for k, v in sorted(self.group_nice.items())
            },
        }


class RtpProbe:
    """bench/rtp_probe.py for one level (the workers' RTP ports), in its own process."""

    def __init__(self, folder: Path, ports: tuple[int, int], name: str) -> None:
        self.out = folder / f"rtp-{name}.json"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(PROBE),
                "--ports",
                f"{ports[0]}-{ports[1]}",
                "--out",
                str(self.out),
            ]
        )

    def stop(self) -> dict[str, object]:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
            return json.loads(self.out.read_text())
        except (subprocess.TimeoutExpired, OSError, ValueError) as exc:
            self.proc.kill()
            return {"unavailable": str(exc)}
