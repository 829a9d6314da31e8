#!/usr/bin/env python3
"""Hostile SIP, RTP and audio against ``voicebot serve --demo`` (Kamailio + workers).

Steps (``--steps``, each can run alone; counts scale with the flags):

1. ``fuzz``: ``--fuzz-messages`` malformed SIP messages (tests/sip/sipfuzz.py: seeds captured
   from a real call through the service plus the SIPp scenarios' messages) over UDP and TCP
   to Kamailio's public port and straight to the worker ports, plus hostile requests inside
   a live dialog, while ``--fuzz-calls`` real SIPp calls are in progress (speech, then '#',
   then the bot hangs up). Pass: every process alive and not restarted, 0 failed calls in
   progress, each heard its '#', a fresh call works.
2. ``rtp``: garbage RTP on a live call (random payloads, wrong payload types, SSRC changes,
   3 bursts of 1000 packets, 1500-65000 byte packets, malformed headers, RTCP garbage), then
   speech and '#' again. Pass: the call stayed up, the bot kept sending audio, hung up on
   '#', the worker lived.
3. ``soak``: ``--soak-calls`` short calls (tests/sip/scenarios/uac_short.xml) through Kamailio
   at ``--soak-rate`` calls/s. Pass: 0 failed calls, each worker's VmRSS at the end within
   10% of the start (measured after ``--warmup`` calls).
4. ``audio``: ``--audio-files`` corrupt audio files (tests/corrupt_audio.py) through
   ``voicebot call`` and, as caller cases, ``voicebot replay``. Pass: exit 2, ``error[...]``
   naming the file, no traceback, for each.

Writes ``bench/results/sip_soak.json``. Needs sipp, kamailio; 127.0.0.1 only.
Usage: .venv/bin/python bench/sip_soak.py [--steps fuzz,rtp,soak,audio] [--soak-calls 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "sip"), str(ROOT / "tests")]

from conftest import (  # noqa: E402  (tests/sip helpers)
    PCAP_DIR,
    SCENARIOS,
    SPEECH_WAV,
    free_port,
    read_wav,
    render,
    sipp,
    sipp_wait,
    wait_report,
)
from corrupt_audio import case_for, make_corrupt_files  # noqa: E402
from rawcall import RawCall, garbage_phases  # noqa: E402
from sipfuzz import (  # noqa: E402
    HOSTILE_INFO,
    Fuzzer,
    Mutator,
    alive,
    captured_messages,
    long_call_media,
    long_lived,
    scenario_seeds,
)


class Service:
    """``voicebot serve --demo`` with ``workers`` workers on free loopback ports."""

    def __init__(self, folder: Path, workers: int) -> None:
        self.folder = folder
        self.record = folder / "calls"
        self.var = folder / "var"
        self.workers = workers
        folder.mkdir(parents=True, exist_ok=True)
        cfg = folder / "settings.yml"
        cfg.write_text("sip:\n  rtp_ports: 40\n  shutdown_grace_s: 5\n  media_timeout_s: 20\n")
        self.port = free_port()
        env = {
            **os.environ,
            "VOICEBOT_CONFIG": str(cfg),
            "VOICEBOT_VAR": str(self.var),
            "PYTHONPATH": str(ROOT),
        }
        self.log = folder / "serve.log"
        self._out = open(self.log, "w")  # noqa: SIM115 - the child writes it until the end
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "voicebot.cli",
                "serve",
                "--demo",
                "--demo-record-dir",
                str(self.record),
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                "--worker-base-port",
                str(free_port(workers)),
                "--rtp-base-port",
                str(free_port(40 * workers)),
            ],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=ROOT,
        )
        end = time.monotonic() + 120
        while "answering SIP" not in self.log.read_text():
            if self.proc.poll() is not None or time.monotonic() > end:
                raise SystemExit(f"serve did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def worker_info(self) -> dict[str, tuple[int, int]]:
        """name -> (pid, SIP port), from the ready files."""
        out = {}
        for p in sorted((self.var / "sip").glob("worker-*.ready")):
            info = json.loads(p.read_text())
            out[p.stem] = (int(info["pid"]), int(info["port"]))
        return out

    def processes(self) -> dict[int, str]:
        return long_lived(self.proc.pid)

    def restarts(self) -> int:
        return self.log.read_text().count("restarting")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._out.close()
        return self.proc.wait()


def vmrss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def reports(svc: Service) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in svc.record.glob("*.json")]


def fresh_call(svc: Service, folder: Path, within_s: float = 60.0) -> dict[str, Any]:
    """A normal call (speech, 4 digits, BYE); retried while unACKed fuzz INVITEs hold slots."""
    t0, tries = time.monotonic(), 0
    while time.monotonic() - t0 < within_s:
        tries += 1
        res = sipp(render("uac_speech_dtmf.xml", folder, SPEECH_MS="500"), svc.target, folder)
        if res.returncode == 0 and res.successful == 1:  # type: ignore[union-attr]
            return {"ok": True, "tries": tries, "after_s": round(time.monotonic() - t0, 1)}
        time.sleep(3)
    return {"ok": False, "tries": tries}


def step_fuzz(svc: Service, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    before = svc.processes()
    workers = svc.worker_info()
    restarts = svc.restarts()
    sipp(render("uac_speech_dtmf.xml", folder, SPEECH_MS="300"), svc.target, folder)
    fuzz_port = free_port()
    kam = ("127.0.0.1", svc.port)
    captured = [m for p in folder.glob("*.msg") for m in captured_messages(p)]  # that call
    files = [*SCENARIOS.glob("*.xml"), *PCAP_DIR.parent.glob("*/*.xml")]
    scen = scenario_seeds(files, kam, fuzz_port, free_port())
    seeds = captured + scen
    # the calls must outlast the fuzz, which runs slower than asked on a loaded machine
    plays = max(3, int(3 * args.fuzz_messages / args.fuzz_rate / 6.6) + 2)
    n_calls = args.fuzz_calls
    calls = sipp(
        render("uac_wait_bye.xml", folder, MEDIA=long_call_media(PCAP_DIR, plays)),
        svc.target,
        folder,
        calls=n_calls,
        rate=20,
        timeout_s=plays * 7 + 40,
        background=True,
    )
    # one more call in progress, of our own, for hostile requests inside its dialog
    raw = RawCall(kam, free_port(), free_port(2))
    dialog: dict[str, Any] = {"answered": raw.invite()}
    halt = threading.Event()
    speech = alaw_speech()

    def keep_talking() -> None:
        while not halt.is_set() and raw.bye_at is None:
            raw.send_audio(speech[:8000])

    talker = threading.Thread(target=keep_talking, daemon=True)
    talker.start()
    time.sleep(2.0)  # the calls are up
    targets = [kam] * 4 + [("127.0.0.1", port) for _, port in workers.values()]
    fuzzer = Fuzzer(Mutator(seeds, seed=args.seed), fuzz_port)
    t0 = time.monotonic()
    try:
        fuzzer.send(targets, args.fuzz_messages, args.fuzz_rate, tcp_share=0.3)
    finally:
        time.sleep(0.5)
        fuzzer.close()
    fuzz_s = time.monotonic() - t0
    try:
        for i, body in enumerate(HOSTILE_INFO * 3):
            raw.request("INFO", body, "application/dtmf-relay", cseq=10 + i)
            time.sleep(0.05)
        time.sleep(1.0)
        dialog["sent"] = 3 * len(HOSTILE_INFO)
        dialog["responses"] = sorted({c for c, _ in raw.responses})
        dialog["up_after"] = raw.bye_at is None
        raw.request("INFO", b"Signal=#\r\n", "application/dtmf-relay", cseq=99)
        dialog["bot_hung_up_on_hash"] = raw.wait_bye(5.0)
    finally:
        halt.set()
        talker.join(3.0)
        raw.close()
    in_progress_still_up_after_fuzz = calls.poll() is None
    done = sipp_wait(calls, plays * 7 + 60)  # type: ignore[arg-type]
    time.sleep(2.0)
    held = [r for r in reports(svc) if r["caller_id"] == "0699999999"]
    heard_hash = sum(1 for r in held if [d["digit"] for d in r["digits"]] == ["#"])
    after = {p: alive(p) for p in before}
    fresh = fresh_call(svc, folder)
    stats = fuzzer.stats.as_dict()
    row = {
        "seed_messages": {"captured_from_a_real_call": len(captured), "sipp_scenarios": len(scen)},
        "fuzz": stats,
        "fuzz_wall_s": round(fuzz_s, 1),
        "in_dialog": dialog,
        "calls_in_progress": n_calls,
        "calls_in_progress_outlasted_fuzz": in_progress_still_up_after_fuzz,
        "calls_in_progress_successful": done.successful,
        "calls_in_progress_failed": done.failed,
        "calls_in_progress_bot_heard_hash": heard_hash,
        "processes_watched": len(before),
        "processes_dead_after": sum(1 for ok in after.values() if not ok),
        "worker_restarts": svc.restarts() - restarts,
        "fresh_call_after": fresh,
    }
    row["pass"] = bool(
        stats["sent"] >= args.fuzz_messages
        and stats["sent_udp"] > 0
        and stats["sent_tcp"] > 0
        and in_progress_still_up_after_fuzz
        and done.failed == 0
        and done.successful == n_calls
        and heard_hash == n_calls
        and row["processes_dead_after"] == 0
        and row["worker_restarts"] == 0
        and dialog.get("answered") == 200
        and dialog.get("up_after")
        and dialog.get("bot_hung_up_on_hash")
        and fresh["ok"]
    )
    return row


def alaw_speech() -> bytes:
    """The shared evaluation speech (real, 8 kHz) as A-law bytes."""
    from voicebot.audio.codecs import alaw_encode

    return alaw_encode(read_wav(SPEECH_WAV))


def step_rtp(svc: Service, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    workers = {pid for pid, _ in svc.worker_info().values()}
    restarts = svc.restarts()
    speech = alaw_speech()
    call = RawCall(("127.0.0.1", svc.port), free_port(), free_port(2))
    row: dict[str, Any] = {}
    try:
        row["answered"] = call.invite()
        call.send_audio(speech[:8000])
        phases = {}
        for phase, sent in garbage_phases(call, random.Random(args.seed), scale=1.0):
            phases[phase] = sent
        row["garbage_packets"] = phases
        row["garbage_total"] = sum(phases.values())
        up_after_garbage = call.bye_at is None
        heard = call.rtp_in
        call.send_audio(speech[8000:24000])  # 2 s of real speech again
        row["bot_rtp_packets_during_2s_after_garbage"] = call.rtp_in - heard
        call.send_digit(11)
        row["bot_hung_up_on_hash"] = call.wait_bye(5.0)
        row["call_up_after_garbage"] = up_after_garbage
    finally:
        call.close()
    rep = wait_report(svc.record, call.call_id.split("@")[0])
    row["bot_digits"] = [d["digit"] for d in rep["digits"]]
    row["close_reason"] = rep["close_reason"]
    row["workers_alive"] = all(alive(p) for p in workers)
    row["worker_restarts"] = svc.restarts() - restarts
    row["pass"] = bool(
        row["answered"] == 200
        and row["call_up_after_garbage"]
        and row["bot_rtp_packets_during_2s_after_garbage"] > 50
        and row["bot_hung_up_on_hash"]
        and row["bot_digits"] == ["#"]
        and row["workers_alive"]
        and row["worker_restarts"] == 0
    )
    return row


def step_soak(svc: Service, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    workers = svc.worker_info()
    restarts = svc.restarts()
    scenario = render("uac_short.xml", folder, PAUSE_MS=str(args.soak_pause_ms))
    # 3 of each worker's 4 slots: a slot is only free once the worker has released the call
    # after its BYE, so SIPp starting a call per answered BYE would otherwise meet 486
    limit = 3 * svc.workers
    rss_cold = {n: round(vmrss_mb(pid), 1) for n, (pid, _) in workers.items()}
    if args.warmup:
        warm = sipp(
            scenario,
            svc.target,
            folder,
            calls=args.warmup,
            limit=limit,
            rate=args.soak_rate,
            timeout_s=args.warmup / 5 + 60,
        )
        time.sleep(2.0)
    rss_start = {n: round(vmrss_mb(pid), 1) for n, (pid, _) in workers.items()}
    load_start = os.getloadavg()
    t0 = time.monotonic()
    proc = sipp(
        scenario,
        svc.target,
        folder,
        calls=args.soak_calls,
        limit=limit,
        rate=args.soak_rate,
        timeout_s=args.soak_calls / args.soak_rate * 3 + 120,
        background=True,
    )
    samples = []
    while proc.poll() is None:  # type: ignore[union-attr]
        time.sleep(5.0)
        samples.append(
            {
                "t_s": round(time.monotonic() - t0),
                "rss_mb": {
                    n: round(vmrss_mb(pid), 1) for n, (pid, _) in workers.items() if alive(pid)
                },
                "load1": os.getloadavg()[0],
            }
        )
    res = sipp_wait(proc, 30)  # type: ignore[arg-type]
    wall = time.monotonic() - t0
    time.sleep(3.0)
    rss_end = {n: round(vmrss_mb(pid), 1) if alive(pid) else 0.0 for n, (pid, _) in workers.items()}
    lived = [n for n in rss_start if rss_end[n] > 0]  # a worker that died is counted apart
    growth = {n: round(100 * (rss_end[n] - rss_start[n]) / rss_start[n], 1) for n in lived}
    minute = next((x["rss_mb"] for x in samples if x["t_s"] >= 60), {})
    growth_after_1min = {
        n: round(100 * (rss_end[n] - minute[n]) / minute[n], 2) for n in lived if minute.get(n)
    }
    row = {
        "calls": args.soak_calls,
        "rate_asked_cps": args.soak_rate,
        "concurrency_limit": limit,
        "call_pause_ms": args.soak_pause_ms,
        "warmup_calls": args.warmup,
        "warmup_failed": warm.failed if args.warmup else None,  # type: ignore[union-attr]
        "sipp_exit": res.returncode,
        "successful": res.successful,
        "failed": res.failed,
        "wall_s": round(wall, 1),
        "rate_achieved_cps": round(res.successful / wall, 1) if wall else 0,
        "worker_rss_mb_before_warmup": rss_cold,
        "worker_rss_mb_start": rss_start,
        "worker_rss_mb_end": rss_end,
        "worker_rss_growth_pct": growth,
        "worker_rss_growth_pct_after_the_first_minute": growth_after_1min,
        "workers_that_died": [n for n in rss_start if n not in lived],
        "worker_restarts": svc.restarts() - restarts,
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "rss_samples_every_5s": samples[:: max(1, len(samples) // 40)],
    }
    row["pass_failed_calls"] = res.failed == 0 and res.successful == args.soak_calls
    row["pass_rate"] = row["rate_achieved_cps"] >= 20
    row["pass_memory"] = bool(growth) and all(abs(g) <= 10 for g in growth.values())
    row["pass_no_worker_died"] = row["worker_restarts"] == 0
    row["pass"] = all(
        row[k] for k in ("pass_failed_calls", "pass_rate", "pass_memory", "pass_no_worker_died")
    )
    return row


def step_audio(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    files = make_corrupt_files(folder / "corrupt", args.audio_files, seed=args.seed)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def run(cmd: list[str], name: str) -> dict[str, Any]:
        out = subprocess.run(
            [sys.executable, "-m", "voicebot.cli", *cmd],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            cwd=folder,
        )
        text = out.stdout + out.stderr
        return {
            "exit": out.returncode,
            "traceback": "Traceback" in text,
            "names_file": "error[" in out.stderr and name in out.stderr,
            "error": out.stderr.strip().splitlines()[-1][:200] if out.stderr.strip() else "",
        }

    def one(item: tuple[Path, str]) -> dict[str, Any]:
        path, kind = item
        call = run(["call", str(path), "--out", str(folder / "out")], path.name)
        suite = folder / "suites" / path.stem
        case_for(path, suite)
        replay = run(["replay", str(suite), "--out", str(folder / "rep")], path.name)
        return {"file": path.name, "kind": kind, "call": call, "replay": replay}

    with ThreadPoolExecutor(2) as pool:
        rows = list(pool.map(one, files))

    def ok(r: dict[str, Any]) -> bool:
        return r["exit"] == 2 and not r["traceback"] and r["names_file"]

    bad = [r for r in rows if not (ok(r["call"]) and ok(r["replay"]))]
    kinds: dict[str, int] = {}
    for r in rows:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    row = {
        "files": len(rows),
        "by_kind": kinds,
        "call_clean_refusals": sum(ok(r["call"]) for r in rows),
        "replay_clean_refusals": sum(ok(r["replay"]) for r in rows),
        "tracebacks": sum(r["call"]["traceback"] + r["replay"]["traceback"] for r in rows),
        "not_exit_2": sum((r["call"]["exit"] != 2) + (r["replay"]["exit"] != 2) for r in rows),
        "failures": bad[:20],
        "example_errors": [r["call"]["error"] for r in rows[:: max(1, len(rows) // 8)]],
    }
    row["pass"] = not bad and len(rows) >= args.audio_files
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", default="soak,rtp,fuzz,audio")
    ap.add_argument("--workers", type=int, default=4, help="worker processes (4 calls each)")
    ap.add_argument("--fuzz-messages", type=int, default=1200)
    ap.add_argument("--fuzz-rate", type=float, default=100.0, help="messages per second")
    ap.add_argument("--fuzz-calls", type=int, default=4, help="real calls in progress")
    ap.add_argument("--soak-calls", type=int, default=10000)
    ap.add_argument("--soak-rate", type=float, default=25.0, help="calls per second")
    ap.add_argument("--soak-pause-ms", type=int, default=200, help="each soak call's length")
    ap.add_argument("--warmup", type=int, default=1000, help="calls before the RSS baseline")
    ap.add_argument("--audio-files", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "sip_soak.json")
    args = ap.parse_args()
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    folder = Path(tempfile.mkdtemp(prefix="sip-soak-"))
    results: dict[str, Any] = {}
    svc = Service(folder / "serve", args.workers) if set(steps) - {"audio"} else None
    try:
        for step in steps:
            t0 = time.monotonic()
            sub = folder / step
            sub.mkdir()
            if step == "audio":
                row = step_audio(sub, args)
            else:
                assert svc is not None
                row = {"fuzz": step_fuzz, "rtp": step_rtp, "soak": step_soak}[step](svc, sub, args)
            row["step_wall_s"] = round(time.monotonic() - t0, 1)
            results[step] = row
            print(
                json.dumps(
                    {step: {k: v for k, v in row.items() if not isinstance(v, (list, dict))}}
                ),
                flush=True,
            )
    finally:
        exit_status = svc.stop() if svc is not None else None
    out = {
        "what": "hostile SIP/RTP/audio against voicebot serve --demo (Kamailio + pjsua2 workers)",
        "command": "bench/sip_soak.py " + " ".join(sys.argv[1:]),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "note": "2 cores shared with other jobs; see loadavg in the soak step",
        },
        "workers": args.workers,
        "seed": args.seed,
        "serve_exit_status": exit_status,
        "trace_dir": str(folder),
        "steps": results,
        "pass": all(r.get("pass") for r in results.values()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.exists() and set(steps) != {"soak", "rtp", "fuzz", "audio"}:
        old = json.loads(args.out.read_text())  # a partial run updates its steps only
        old.setdefault("steps", {}).update(results)
        old["pass"] = all(r.get("pass") for r in old["steps"].values())
        out = {**out, "steps": old["steps"], "pass": old["pass"]}
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}; pass={out['pass']}")
    return 0 if out["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
