#!/usr/bin/env python3
"""Simultaneous multi-turn calls through ``voicebot serve``: turn latency, failures, memory.

For each level N, N callers ring the line, each starting at a random moment within the first
``--spread`` seconds: SIPp calls (bench/voice_load_sipp.py, the default, three ``sipp``
processes in all) or, with ``--callers pjsua2``, one pjsua2 process per call
(tests/sip/caller.py); the single-call level always has a pjsua2 caller, whose recording
gives the wire latency. Every caller holds a real three-turn conversation from recordings
that are not the bot's voice (espeak-ng and flite voices from tests/audio): it waits for the
greeting, asks for the opening hours, then whether there is an outage at a spelled postcode,
then says goodbye, with pauses for the bot's answers (the bot hangs up after the goodbye).
The workers log every turn (end of caller speech -> first bot audio: endpoint + ASR + dialog
+ TTS); this reports per level: calls, failed_calls (not answered, or not ended after its 3
turns), unresolved_calls (also counts calls whose request was misheard or misunderstood),
turns, latency p50/p95, stage means, CPU and RSS of every process of the service (workers,
speech, dialog, action server, Kamailio, Redis) and the speech/dialog services' queue and
run times. The single-call level also gives the turn latency measured on the wire: from the
end of the caller's speech in what it sent to the first bot audio in what it recorded.

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

This file runs the service and the callers; a level's numbers, the summary and the JSON are
computed in bench/voice_load_levels.py (pure functions, tests/test_bench_voice_load.py), and
the process sampler and the RTP probe live in bench/voice_load_procs.py.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
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
from voice_load_levels import ENDED, level_row, report, service_delta  # noqa: E402
from voice_load_procs import KINDS, TICK, RtpProbe, Sampler, cmdline  # noqa: E402, F401
from voice_load_sipp import VARIANTS, port_outside, run_sipp_callers  # noqa: E402

CALLER = ROOT / "tests" / "sip" / "caller.py"
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
CALLER_NICE = 0
"""Nice value of the callers by default."""
RATE = 8000


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
    avoid: tuple[int, int] | None = None,
) -> None:
    time.sleep(delay)
    play, ends, length = caller_wav(folder, index)
    report = folder / f"caller-{index}.json"
    rec = folder / f"caller-{index}.heard.wav"
    cmd = [
        *(["nice", "-n", str(nice)] if nice else []), sys.executable, str(CALLER),
        "--target", target, "--port", str(port_outside(1, avoid)),
        "--rtp-port", str(port_outside(4, avoid)), "--play", str(play),
        "--duration", f"{length + 30:.0f}",
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


def run_level(
    n: int,
    target: str,
    folder: Path,
    serve_pid: int,
    spread: float,
    caller_nice: int = 0,
    rtp_ports: tuple[int, int] | None = None,
    profile_dialog: bool = False,
    callers: str = "pjsua2",
    worker_ports: tuple[int, int] | None = None,
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
    delays = [rng.uniform(0, spread) if n > 1 else 0.0 for _ in range(n)]
    if callers == "sipp" and n > 1:
        variants = {v: caller_wav(folder, v)[0::2] for v in range(VARIANTS)}
        threads = [
            threading.Thread(
                target=lambda: results.extend(
                    run_sipp_callers(
                        target, folder, delays, variants, caller_nice, avoid=worker_ports
                    )
                )
            )
        ]
    else:
        threads = [
            threading.Thread(
                target=call,
                args=(target, folder, i, delays[i], results, n == 1, caller_nice, worker_ports),
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
    after = service_health()
    return level_row(
        n, results, lines, usage, before, after, schedstat, media, dialog_loop,
        wall_s=time.monotonic() - started, loadavg_1m_end=os.getloadavg()[0],
    )  # fmt: skip


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
        "--callers",
        choices=("sipp", "pjsua2"),
        default="sipp",
        help="the callers of levels above 1: SIPp (bench/voice_load_sipp.py, the default: "
        "continuous RTP like most phones, 2.8 CPU-s at 32 calls) or one pjsua2 process per "
        "call (tests/sip/caller.py: 11-13 CPU-s at 32 calls, no RTP in silence)",
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
                args.profile_dialog, args.callers, (rtp_base, rtp_base + RTP_PORTS * workers - 1),
            )  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(180)
    out = report(
        mode=args.mode,
        settings=args.settings.read_text() if args.settings else "",
        malloc_arena_max=os.environ.get("MALLOC_ARENA_MAX", "2 (voicebot serve's default)"),
        workers=workers,
        max_calls=args.max_calls,
        caller_nice=args.caller_nice,
        worker_nice=effective_worker_nice(cfg),
        service_nice=effective_service_nice(cfg),
        start_to_answering_s=load_s,
        cpus=os.cpu_count(),
        loadavg_1m_at_start=load_at_start,
        rows=rows,
        callers=args.callers,
    )
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
