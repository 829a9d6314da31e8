#!/usr/bin/env python3
"""A/B runs of bench/voice_load.py over the services' nice value, interleaved so load drift
from other work on the machine falls on both arms alike.

Each run is one whole ``voice_load.py`` (its own ``voicebot serve``) with
``services.speech_nice`` and ``dialog_nice`` at the arm's values (``--arm B=-10`` both,
``--arm D=0,-10`` speech 0 and dialog -10); ``--order ABBA`` runs them
A, B, B, A (repeat ``--rounds`` times). Every run keeps the load average before it and during
each level, and the result file gets, per run and level, the turn latency, failed calls,
stage means, CPU per role, each service's CPU and run-queue wait per request, and the RTP on
the wire (per 1000 packets: sent >20 ms / >100 ms late, the bot's underrun frames; the
largest gap), next to the full ``voice_load`` level. The file is rewritten after each run.

Usage::

    .venv/bin/python bench/voice_load_ab.py --calls 16,32 --arm A=0 --arm B=-5 --order ABBA \\
        --out bench/results/voice_load_service_nice.json

``--collect FILE...`` gathers voice_load result files made before into one such file.

Network: 127.0.0.1 only (as voice_load.py). README "Service priority".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LOAD = ROOT / "bench" / "voice_load.py"


def per_1000(part: float, whole: float) -> float | None:
    return round(1000 * part / whole, 1) if whole else None


def media_brief(media: dict[str, Any] | None) -> dict[str, Any] | None:
    """The RTP probe's figures per 1000 packets (voice_load's ``media``), both directions."""
    if not media:
        return None
    out: dict[str, Any] = {}
    for side in ("bot", "caller"):
        m = media.get(side) or {}
        packets = float(m.get("packets") or 0)
        out[side] = {
            "packets": int(packets),
            "late_20ms_per_1000": per_1000(m.get("late_20ms", 0), packets),
            "late_100ms_per_1000": per_1000(m.get("late_100ms", 0), packets),
            "gap_ms_max": m.get("gap_ms_max"),
            "jitter_ms_mean": m.get("jitter_ms_mean"),
        }
        if side == "bot":
            out[side]["underrun_frames_per_1000"] = per_1000(m.get("underrun_frames", 0), packets)
    return out


def level_brief(level: dict[str, Any]) -> dict[str, Any]:
    """The figures the README's table compares."""
    sched = level.get("sched") or {}
    roles = sched.get("per_role") or {}
    return {
        "calls": level["calls"],
        "failed_calls": level["failed_calls"],
        "turns": level["turns"],
        "latency_ms_p50": level["latency_ms_p50"],
        "latency_ms_p95": level["latency_ms_p95"],
        "stage_mean_ms": level.get("stage_mean_ms"),
        "loadavg_1m": level.get("loadavg_1m"),
        "other_cpu_s": (roles.get("other") or {}).get("cpu_s"),
        "cpu_pct_mean": level.get("cpu_pct_mean"),
        "service_per_request_ms": level.get("service_per_request_ms"),
        "media": media_brief(level.get("media")),
        "nice_by_role": level.get("nice_by_role"),
        "autogroup_nice_by_role": level.get("autogroup_nice_by_role"),
    }


def collected(paths: list[Path]) -> list[dict[str, Any]]:
    """Runs from voice_load result files already written (``--collect``), in the order given;
    the arm's label is its services' nice value."""
    runs = []
    for i, path in enumerate(paths, 1):
        data = json.loads(path.read_text())
        nice = data.get("service_nice") or {}
        runs.append(
            {
                "run": i,
                "arm": f"nice {nice.get('dialog')}",
                "service_nice": nice,
                "file": path.name,
                "loadavg_before": [data.get("loadavg_1m_at_start")],
                "start_to_answering_s": data.get("start_to_answering_s"),
                "levels": [level_brief(level) for level in data["levels"]],
                "full": data,
            }
        )
    return runs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", default="32", help="voice_load levels, e.g. 16,32")
    ap.add_argument(
        "--arm",
        action="append",
        default=[],
        help="LABEL=NICE (speech and dialog alike) or LABEL=SPEECH,DIALOG: the services' nice "
        "values in arm LABEL (one letter)",
    )
    ap.add_argument("--order", default="ABBA", help="the arms' labels in run order")
    ap.add_argument("--rounds", type=int, default=1, help="repeat the order this many times")
    ap.add_argument("--what", default="", help="a note on the conditions, kept in the file")
    ap.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "voice_load_service_nice.json"
    )
    ap.add_argument(
        "--collect",
        type=Path,
        nargs="+",
        help="no runs: gather these voice_load result files (in this order) into --out",
    )
    args = ap.parse_args()
    if args.collect:
        done = collected(args.collect)
        args.out.write_text(
            json.dumps({"what": args.what, "calls": args.calls, "runs": done}, indent=1)
        )
        for one in done:
            for level in one["levels"]:
                print(json.dumps({"run": one["run"], "arm": one["arm"], **level})[:600])
        return 0
    arms: dict[str, tuple[int, int]] = {}
    for spec in args.arm:
        label, _, value = spec.partition("=")
        speech, _, dialog = value.partition(",")
        arms[label] = (int(speech), int(dialog or speech))
    if not arms:
        ap.error("give the arms with --arm LABEL=NICE (or --collect files)")
    order = args.order * args.rounds
    if set(order) - set(arms):
        ap.error(f"--order {args.order} names arms not given with --arm")
    runs: list[dict[str, Any]] = []
    folder = Path(tempfile.mkdtemp(prefix="voice-load-ab-"))
    for i, label in enumerate(order, 1):
        out = folder / f"run{i}-{label}.json"
        started = time.strftime("%H:%M:%S", time.gmtime())
        load_before = [round(x, 2) for x in os.getloadavg()]
        speech, dialog = arms[label]
        cmd = [
            sys.executable, str(LOAD), "--calls", args.calls, "--speech-nice", str(speech),
            "--dialog-nice", str(dialog), "--out", str(out),
        ]  # fmt: skip
        print(f"run {i}/{len(order)}: arm {label} (speech / dialog nice {speech} / {dialog}) "
              f"at {started} UTC, load {load_before}", file=sys.stderr, flush=True)  # fmt: skip
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        run: dict[str, Any] = {
            "run": i,
            "arm": label,
            "services_nice": {"speech": speech, "dialog": dialog},
            "started_utc": started,
            "loadavg_before": load_before,
            "exit_status": proc.returncode,
        }
        if proc.returncode == 0 and out.exists():
            data = json.loads(out.read_text())
            run["service_nice"] = data.get("service_nice")
            run["start_to_answering_s"] = data.get("start_to_answering_s")
            run["levels"] = [level_brief(level) for level in data["levels"]]
            run["full"] = data
        else:
            run["error"] = proc.stderr[-2000:]
        runs.append(run)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(
                {
                    "what": "bench/voice_load_ab.py: voice_load.py runs with services.speech_nice "
                    "and dialog_nice at each arm's value, interleaved in the order given. "
                    + args.what,
                    "calls": args.calls,
                    "arms": {k: {"speech": v[0], "dialog": v[1]} for k, v in arms.items()},
                    "order": order,
                    "cpus": os.cpu_count(),
                    "runs": runs,
                },
                indent=1,
            )
        )
        for level in run.get("levels", []):
            print(json.dumps({"run": i, "arm": label, **level})[:600], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
