#!/usr/bin/env python3
"""Simultaneous multi-turn calls through ``voicebot serve``: turn latency, failures, memory.

For each level N, N pjsua2 callers (tests/sip/caller.py, each its own process) ring the
line, each starting at a random moment within the first ``--spread`` seconds. Every caller
holds a real three-turn conversation from recordings that are not the bot's voice (espeak-ng
and flite voices from tests/audio): it waits for the greeting, asks for the opening hours,
then whether there is an outage at a spelled postcode, then says goodbye, with pauses for
the bot's answers (the bot hangs up after the goodbye). The workers log every turn
(end of caller speech -> first bot audio: endpoint + ASR + dialog + TTS); this reports per
level: calls, failed_calls (not answered, or not ended after its 3 turns), unresolved_calls
(also counts calls whose request was misheard or misunderstood), turns, latency
p50/p95, stage means, CPU and RSS of every process of the service (workers, speech, dialog,
action server, Kamailio, Redis) and the speech/dialog services' queue and run times.
The single-call level also gives the turn latency measured on the wire: from the end of the
caller's speech in what it sent to the first bot audio in what it recorded.

Usage (one command; about 2 minutes per level plus the start-up)::

    .venv/bin/python bench/voice_load.py --calls 1,8,16,32,48

Admission control (``--max-calls N``, the host's ``sip.max_calls``; default 0 = the workers'
slots, i.e. no limit below what the workers take): per level, ``calls`` offered, ``admitted``
(answered), ``refused`` (Kamailio's 503 because the host was full), ``failed_admitted_calls``
(answered but not ended after the 3 turns) and the latency of the admitted calls' turns;
``failed_calls`` counts every call that was neither refused nor completed. E.g.
``--calls 48 --max-calls 8 --out bench/results/voice_load_admission.json``.

``--mode inprocess`` runs the old design (every worker loads every model) for comparison.
Where the time goes, per level: ``sched`` (bench/schedstat.py: CPU and run-queue wait per
role, the callers included), ``service_per_request_ms`` (a request's wall time against its
service's CPU and run-queue wait), ``media`` (bench/rtp_probe.py: the RTP on the wire, timed
by the kernel: late packets, gaps, jitter, the bot's underruns; root only) and, with
``--profile-dialog``, ``dialog_loop`` (bench/dialog_profile.py: py-spy of the dialog loop).
``--caller-nice N`` runs the callers at nice N (default 0); ``--worker-nice N`` sets
``sip.worker_nice``. README "What a turn waits on at 16-32 calls". ``--speech-nice N`` /
``--dialog-nice N`` set ``services.speech_nice`` / ``dialog_nice`` (README "Service
priority"); every level records the 1-minute load average during it (``loadavg_1m``) and
the nice values its processes ran at (``nice_by_role``, and ``autogroup_nice_by_role``: their
sessions' task groups, which is what shares the CPU between them, see
voicebot/services/priority.py).

Network: 127.0.0.1 only. Writes ``bench/results/voice_load.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
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
sys.path.insert(0, str(ROOT))
from dialog_profile import DialogProfile  # noqa: E402
from schedstat import SchedSampler  # noqa: E402
from sip_load import children, free_port  # noqa: E402

from voicebot.services.priority import group_nice_of  # noqa: E402

CALLER = ROOT / "tests" / "sip" / "caller.py"
PROBE = ROOT / "bench" / "rtp_probe.py"
RTP_PORTS = 40
"""RTP ports per worker (sip.rtp_ports of the run)."""
AUDIO = ROOT / "tests" / "audio"
HOURS = ["hours_us_male/01.wav", "hours_flite_kal/01.wav", "silence_then_request/02.wav"]
OUTAGE = ["outage_postcode_inline_rms/01.wav"]
GOODBYE = ["hours_us_male/02.wav", "outage_postcode_inline_rms/02.wav", "hours_flite_kal/02.wav"]
GREETING_S = 9.0
"""The caller speaks this long after the answer (the greeting lasts about 7 s)."""
PAUSE_S = 10.0
"""Pause after each caller utterance for the bot's answer, s."""
LEAD_S = 0.2
"""Recording kept before the first loud frame, s: speech_bounds' -40 dBFS cut the quiet
"h" of "hi what time...", and Whisper then heard "I will sign up for the next one"
(sales_inquiry) in about one call in four."""
TARGETS = {"failed_calls": 0, "latency_ms_p95": 1500.0, "latency_ms_p50": 600.0}
"""Issue 11's targets per level (and rss_mb_total_peak <= RSS_TARGET_MB)."""
RSS_TARGET_MB = 3000.0
CALLER_NICE = 0
"""Nice value of the callers by default."""
RATE = 8000
TURN = re.compile(
    r"turn \d+: intent=(\S+) .*latency_ms=([\d.]+|None) \(endpoint ([\d.]+), asr ([\d.]+), "
    r"dialog ([\d.]+), tts ([\d.]+)\)"
)
ENDED = re.compile(r"ended: (\S+).*\((\d+) turns\)")
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


def speech_bounds(samples: np.ndarray) -> tuple[int, int]:
    """First and last sample of speech (20 ms frames above -40 dBFS)."""
    frames = samples[: len(samples) // 160 * 160].reshape(-1, 160).astype(np.float64)
    level = 20 * np.log10(np.sqrt((frames**2).mean(axis=1)) / 32768 + 1e-9)
    loud = np.flatnonzero(level > -40)
    if loud.size == 0:
        return 0, len(samples)
    return int(loud[0] * 160), int((loud[-1] + 1) * 160)


def caller_wav(folder: Path, index: int) -> tuple[Path, list[float], float]:
    """The caller's side: silence, hours, pause, outage, pause, goodbye. Returns the WAV,
    the end of each utterance (s from the answer) and the total length (s)."""
    parts = [np.zeros(int(GREETING_S * RATE), np.int16)]
    ends: list[float] = []
    for names in (HOURS, OUTAGE, GOODBYE):
        audio, rate = sf.read(str(AUDIO / names[index % len(names)]), dtype="int16")
        assert rate == RATE
        start, end = speech_bounds(audio)
        parts.append(audio[max(0, start - int(LEAD_S * RATE)) : end])
        ends.append(sum(len(p) for p in parts) / RATE)
        parts.append(np.zeros(int(PAUSE_S * RATE), np.int16))
    path = folder / f"caller-{index % 3}.wav"
    if not path.exists():
        sf.write(str(path), np.concatenate(parts), RATE, subtype="PCM_16")
    return path, ends, sum(len(p) for p in parts) / RATE


def wire_latencies(record: Path, ends: list[float]) -> list[float]:
    """ms from each utterance's end to the first bot audio after it (-45 dBFS), for turns
    where the bot was quiet during the last 300 ms of the caller's speech."""
    try:
        audio, rate = sf.read(str(record), dtype="int16")
    except (OSError, RuntimeError):
        return []
    if audio.ndim > 1:
        audio = audio[:, 0]
    n = rate // 50
    frames = audio[: len(audio) // n * n].reshape(-1, n).astype(np.float64)
    loud = 20 * np.log10(np.sqrt((frames**2).mean(axis=1)) / 32768 + 1e-9) > -45
    out = []
    for end in ends:
        i = int(end * 50)
        if i >= len(loud) or loud[max(0, i - 15) : i].any():
            continue
        after = np.flatnonzero(loud[i:])
        if after.size:
            out.append(float(after[0] * 20))
    return out


def call(
    target: str,
    folder: Path,
    index: int,
    delay: float,
    results: list[dict],
    record: bool,
    nice: int = 0,
) -> None:
    time.sleep(delay)
    play, ends, length = caller_wav(folder, index)
    report = folder / f"caller-{index}.json"
    rec = folder / f"caller-{index}.heard.wav"
    cmd = [
        *(["nice", "-n", str(nice)] if nice else []), sys.executable, str(CALLER),
        "--target", target, "--port", str(free_port()),
        "--rtp-port", str(free_port(4)), "--play", str(play), "--duration", f"{length + 30:.0f}",
        "--report", str(report), "--user", f"0690{index:06d}",
    ]  # fmt: skip
    if record:
        cmd += ["--record", str(rec)]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=length + 90)
        ok = proc.returncode == 0 and report.exists()
    except subprocess.TimeoutExpired:  # (a starved caller: the call counts as failed)
        ok = False
    data = json.loads(report.read_text()) if ok else {}
    codes = [e.get("code") for e in data.get("events", [])]
    answered = ok and 200 in codes
    results.append(
        {
            "index": index,
            "answered": answered,
            "refused": ok and not answered and data.get("bot_call_code") == 503,
            "wire_ms": wire_latencies(rec, ends) if record and ok else [],
        }
    )


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


def log_marks(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_size for p in (folder / "var" / "sip").glob("worker-*.log")}


def log_lines(folder: Path, since: dict[Path, int]) -> list[str]:
    lines: list[str] = []
    for p in (folder / "var" / "sip").glob("worker-*.log"):
        with open(p, encoding="utf-8", errors="replace") as fh:
            fh.seek(since.get(p, 0))
            lines += fh.read().splitlines()
    return lines


def service_health() -> dict[str, object]:
    """The services' queue/run times (voicebot status --json), or {} in in-process mode."""
    out = subprocess.run(
        [sys.executable, "-m", "voicebot.cli", "status", "--json"],
        capture_output=True, text=True, cwd=ROOT, env=os.environ,
    )  # fmt: skip
    try:
        data = json.loads(out.stdout)
    except json.JSONDecodeError:
        return {}
    return {name: info.get("ops", {}) for name, info in data.items() if info.get("ok")}


def service_delta(before: dict, after: dict) -> dict[str, dict[str, float]]:
    """Per service operation, the requests of this level only: count and mean queue/run
    times (ms), from the running means before and after the level."""
    out: dict[str, dict[str, float]] = {}
    for service, ops in after.items():
        for op, a in (ops or {}).items():
            b = (before.get(service) or {}).get(op) or {}
            n = a.get("count", 0) - b.get("count", 0)
            if n <= 0:
                continue

            def mean(key: str, a: dict = a, b: dict = b, n: int = n) -> float:
                total = a.get(key, 0.0) * a.get("count", 0) - b.get(key, 0.0) * b.get("count", 0)
                return round(total / n, 1)

            out[f"{service}.{op}"] = {
                "count": n,
                "queue_ms_mean": mean("queue_ms_mean"),
                "run_ms_mean": mean("run_ms_mean"),
            }
    return out


def meets_targets(row: dict) -> bool:
    """Issue 11's targets: no failed call, p95 and p50 within bounds, memory within 3 GB."""
    return (
        row["failed_calls"] <= TARGETS["failed_calls"]
        and row["latency_ms_p95"] is not None
        and row["latency_ms_p95"] <= TARGETS["latency_ms_p95"]
        and row["latency_ms_p50"] is not None
        and row["latency_ms_p50"] <= TARGETS["latency_ms_p50"]
        and row.get("rss_mb_total_peak", 0.0) <= RSS_TARGET_MB
    )


def summary(rows: list[dict]) -> dict[str, object]:
    """The largest level that meets the targets, and what limits the next one: the stage
    whose mean grew most over the smallest level, and the service queue at that level."""
    ok = [r["calls"] for r in rows if r["meets_targets"]]
    largest = max(ok) if ok else None
    nxt = next((r for r in rows if largest is None or r["calls"] > largest), None)
    if nxt is None:
        return {"largest_level_meeting_targets": largest, "next_level": None}
    means = nxt.get("stage_mean_ms") or {}
    # against the smallest level; when that is the level that misses, the largest stage
    base = (rows[0].get("stage_mean_ms") or {}) if nxt is not rows[0] else {}
    growth = {k: round(v - base.get(k, 0.0), 1) for k, v in means.items()}
    queues = {k: v["queue_ms_mean"] for k, v in (nxt.get("service_ms") or {}).items()}
    missed = [
        name
        for name, bad in (
            ("failed_calls", nxt["failed_calls"] > TARGETS["failed_calls"]),
            ("latency_ms_p95", (nxt["latency_ms_p95"] or 1e9) > TARGETS["latency_ms_p95"]),
            ("latency_ms_p50", (nxt["latency_ms_p50"] or 1e9) > TARGETS["latency_ms_p50"]),
            ("rss_mb_total_peak", nxt.get("rss_mb_total_peak", 0.0) > RSS_TARGET_MB),
        )
        if bad
    ]
    return {
        "largest_level_meeting_targets": largest,
        "next_level": nxt["calls"],
        "next_level_misses": missed,
        "next_level_stage_mean_ms": means,
        "next_level_stage_growth_ms": growth if base else None,
        "next_level_queueing_stage": max(growth, key=lambda k: growth[k]) if growth else None,
        "next_level_service_queue_ms": queues,
        "next_level_cpu_pct_mean": nxt.get("cpu_pct_mean"),
    }


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def per_request(sched: dict, services: dict[str, dict[str, float]]) -> dict[str, object]:
    """Per request of the speech and dialog services: the wall time the service took (run)
    against its process's CPU and run-queue wait (all threads), ms. Run much longer than
    CPU + wait means the request waited on something else (another request on the same
    event loop, a lock, the action server)."""
    out: dict[str, object] = {}
    roles = sched.get("per_role") or {}
    for service in ("speech", "dialog"):
        ops = {k: v for k, v in services.items() if k.startswith(service + ".")}
        count = sum(v["count"] for v in ops.values())
        role = roles.get(service)
        if not count or not role:
            continue
        out[service] = {
            "requests": count,
            "run_ms_mean": round(
                sum(v["run_ms_mean"] * v["count"] for v in ops.values()) / count, 1
            ),
            "cpu_ms": round(1000 * role["cpu_s"] / count, 1),
            "runq_wait_ms": round(1000 * role["runq_wait_s"] / count, 1),
        }
    return out


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


def run_level(
    n: int,
    target: str,
    folder: Path,
    serve_pid: int,
    spread: float,
    caller_nice: int = 0,
    rtp_ports: tuple[int, int] | None = None,
    profile_dialog: bool = False,
) -> dict:
    mark = log_marks(folder)
    before = service_health()
    dialog_pid = next((p for p in children(serve_pid) if "services.dialog" in cmdline(p)), 0)
    profile = (
        DialogProfile(dialog_pid, folder / f"pyspy-{n}.txt", 3600)
        if profile_dialog and dialog_pid
        else None
    )
    probe = RtpProbe(folder, rtp_ports, str(n)) if rtp_ports else None
    sampler = Sampler(serve_pid)
    sampler.start()
    sched = SchedSampler([serve_pid, os.getpid()])
    sched.start()
    results: list[dict] = []
    rng = random.Random(n)
    threads = [
        threading.Thread(
            target=call,
            args=(
                target,
                folder,
                i,
                rng.uniform(0, spread) if n > 1 else 0.0,
                results,
                n == 1,
                caller_nice,
            ),  # fmt: skip
        )
        for i in range(n)
    ]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    deadline = time.monotonic() + 120  # a call's turns are logged when its session ends
    admitted = sum(r["answered"] for r in results)
    while time.monotonic() < deadline:
        time.sleep(2.0)
        if sum(bool(ENDED.search(line)) for line in log_lines(folder, mark)) >= admitted:
            break
    usage = sampler.stop()
    schedstat = sched.stop()
    media = probe.stop() if probe is not None else None
    dialog_turns = int(sum(
        v["count"] for k, v in service_delta(before, service_health()).items()
        if k.startswith("dialog.")
    ))  # fmt: skip
    dialog_loop = profile.stop(dialog_turns) if profile is not None else None
    lines = log_lines(folder, mark)
    turns = [m for line in lines if (m := TURN.search(line))]
    ended = [m for line in lines if (m := ENDED.search(line))]
    completed = sum(1 for m in ended if int(m.group(2)) >= 3)  # three turns taken and ended
    resolved = sum(1 for m in ended if m.group(1) == "resolved" and int(m.group(2)) >= 3)
    lat = [float(m.group(2)) for m in turns if m.group(2) != "None"]
    wire = [ms for r in results for ms in r["wire_ms"]]
    after = service_health()
    refused = sum(r["refused"] for r in results)
    row = {
        "calls": n,
        "admitted": admitted,
        "refused": refused,
        "failed_admitted_calls": admitted - min(admitted, completed),
        "failed_calls": n - refused - min(n - refused, completed),
        "unresolved_calls": n - refused - min(n - refused, resolved),
        "not_answered": sum(not r["answered"] for r in results),
        "turns": len(lat),
        "latency_ms_p50": pct(lat, 50),
        "latency_ms_p95": pct(lat, 95),
        "latency_ms_max": round(max(lat), 1) if lat else None,
        "stage_mean_ms": {
            name: round(float(np.mean([float(m.group(i)) for m in turns])), 1)
            for i, name in ((3, "endpoint"), (4, "asr"), (5, "dialog"), (6, "tts"))
        }
        if turns
        else {},
        "wire_latency_ms": {"turns": len(wire), "p50": pct(wire, 50), "max": pct(wire, 100)}
        if n == 1
        else None,
        "intents": sorted({m.group(1) for m in turns}),
        "outcomes": sorted(m.group(1) for m in ended),
        "services_before": before,
        "services_after": after,
        "wall_s": round(time.monotonic() - started, 1),
        **usage,
        "loadavg_1m_end": round(os.getloadavg()[0], 2),
        "service_ms": service_delta(before, after),
        "sched": schedstat,
        "media": media,
        "dialog_loop": dialog_loop,
    }
    row["service_per_request_ms"] = per_request(schedstat, row["service_ms"])
    row["meets_targets"] = meets_targets(row)
    return row


def effective_worker_nice(cfg: Path) -> int:
    """sip.worker_nice of the run (the settings file written, over the defaults)."""
    from voicebot.config import load_settings, section_to
    from voicebot.telephony.settings import SipSettings

    return section_to(SipSettings, load_settings(cfg), "sip").worker_nice


def effective_service_nice(cfg: Path) -> dict[str, int]:
    """services.speech_nice / dialog_nice of the run (the settings file, over the defaults)."""
    from voicebot.config import load_settings
    from voicebot.services.settings import services_config

    svc = services_config(load_settings(cfg))
    return {"speech": svc.speech_nice, "dialog": svc.dialog_nice}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", default="1,8,16,32,48")
    ap.add_argument("--workers", type=int, default=0, help="default: ceil(max N / 4)")
    ap.add_argument("--mode", choices=("shared", "inprocess"), default="shared")
    ap.add_argument("--spread", type=float, default=10.0, help="calls start within this, s")
    ap.add_argument(
        "--max-calls",
        type=int,
        default=0,
        help="the host's capacity (sip.max_calls); 0 = the workers' slots, no admission limit",
    )
    ap.add_argument(
        "--caller-nice",
        type=int,
        default=CALLER_NICE,
        help="nice value of the bench's pjsua2 callers (0 = as the service)",
    )
    ap.add_argument(
        "--worker-nice", type=int, default=None, help="sip.worker_nice (default: the settings')"
    )
    ap.add_argument(
        "--speech-nice", type=int, default=None, help="services.speech_nice (default: settings')"
    )
    ap.add_argument(
        "--dialog-nice", type=int, default=None, help="services.dialog_nice (default: settings')"
    )
    ap.add_argument(
        "--no-rtp-probe", action="store_true", help="no packet capture of the calls' RTP"
    )
    ap.add_argument(
        "--profile-dialog",
        action="store_true",
        help="sample the dialog service's event loop with py-spy (bench/dialog_profile.py)",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "voice_load.json")
    ap.add_argument(
        "--settings",
        type=Path,
        help="YAML of further settings sections (not sip/dialog/services), e.g. a before/after "
        "comparison with session: {speculative_decode_ms: 0}",
    )
    args = ap.parse_args()
    levels = [int(x) for x in args.calls.split(",")]
    workers = args.workers or math.ceil(max(levels) / 4)
    folder = Path(tempfile.mkdtemp(prefix="voice-load-"))
    cfg = folder / "settings.yml"
    port = free_port()
    cfg.write_text(
        f"sip:\n  rtp_ports: {RTP_PORTS}\n  shutdown_grace_s: 10\n  worker_start_s: 900\n"
        f"  max_calls: {args.max_calls}\n"
        + (f"  worker_nice: {args.worker_nice}\n" if args.worker_nice is not None else "")
        + f"dialog:\n  action_endpoint: http://127.0.0.1:{free_port()}/webhook\n"
        f"services:\n  mode: {args.mode}\n"
        + (f"  speech_nice: {args.speech_nice}\n" if args.speech_nice is not None else "")
        + (f"  dialog_nice: {args.dialog_nice}\n" if args.dialog_nice is not None else "")
        + (args.settings.read_text() if args.settings else "")
    )
    var = folder / "var"
    var.mkdir()
    cache = ROOT / "var" / "tts-cache"
    if cache.is_dir():  # the machine's prompt cache, as a long-running host would have it
        os.symlink(cache, var / "tts-cache")
    env = {
        **os.environ,
        "VOICEBOT_CONFIG": str(cfg),
        "VOICEBOT_VAR": str(var),
        "PYTHONPATH": str(ROOT),
    }
    os.environ.update({k: env[k] for k in ("VOICEBOT_CONFIG", "VOICEBOT_VAR", "PYTHONPATH")})
    log_lines_out: list[str] = []
    load_at_start = round(os.getloadavg()[0], 2)
    started = time.monotonic()
    serve = subprocess.Popen(
        [sys.executable, "-m", "voicebot.cli", "serve", "--port", str(port),
         "--workers", str(workers), "--worker-base-port", str(free_port(workers)),
         "--rtp-base-port", str(rtp_base := free_port(RTP_PORTS * workers))],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    assert serve.stdout is not None
    for line in serve.stdout:
        log_lines_out.append(line)
        print(line, end="", file=sys.stderr)
        if "answering SIP" in line or serve.poll() is not None:
            break
    if not any("answering SIP" in line for line in log_lines_out):
        return 1
    load_s = time.monotonic() - started
    threading.Thread(target=lambda: log_lines_out.extend(serve.stdout), daemon=True).start()  # type: ignore[arg-type]
    rows = []
    try:
        for n in levels:
            row = run_level(
                n, f"sip:bot@127.0.0.1:{port}", folder, serve.pid, args.spread, args.caller_nice,
                None if args.no_rtp_probe else (rtp_base, rtp_base + RTP_PORTS * workers),
                args.profile_dialog,
            )  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(180)
    out = {
        "what": "simultaneous three-turn calls (hours, outage at a spelled postcode, goodbye) "
        "from espeak-ng/flite recordings through voicebot serve, real SIP on 127.0.0.1",
        "mode": args.mode,
        "settings": args.settings.read_text() if args.settings else "",
        "malloc_arena_max": os.environ.get("MALLOC_ARENA_MAX", "2 (voicebot serve's default)"),
        "workers": workers,
        "max_calls": args.max_calls,
        "caller_nice": args.caller_nice,
        "callers": "one pjsua2 process per call (tests/sip/caller.py), real SIP and RTP, "
        f"run at nice {args.caller_nice}: on a real line the callers are elsewhere",
        "worker_nice": effective_worker_nice(cfg),
        "service_nice": effective_service_nice(cfg),
        "start_to_answering_s": round(load_s, 1),
        "cpus": os.cpu_count(),
        "loadavg_1m_at_start": load_at_start,
        "targets": {**TARGETS, "rss_mb_total_peak": RSS_TARGET_MB},
        "summary": summary(rows) if rows else {},
        "levels": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))
    return 0


def _exit_on_term(signum: int, _frame: object) -> None:
    """SIGTERM (``kill``, a CI timeout) stops the run through ``finally``: no orphaned servers."""
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _exit_on_term)
    sys.exit(main())
