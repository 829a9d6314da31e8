"""CPU per turn of the dialog service alone, at 1, 8 and 32 concurrent conversations.

Starts the real dialog service (``python -m voicebot.services.dialog``, the process
``voicebot serve`` starts, with the trained model in ``models/``) on a unix socket, with the
real action server and Rasa's SQLTrackerStore on SQLite (the default ``dialog.tracker_store``),
and drives it with the workers' own client (:class:`RemoteDialog`, the real socket protocol).
Each conversation is scripted from the voice_load callers' transcripts (hours, outage at a
spelled postcode, goodbye) or is a balance check (account number, PIN, goodbye); they
alternate. At each level all N conversations start together and go turn after turn with no
pause (the worst case: every caller's turn arrives at once).

Reported per level: ``cpu_ms_per_turn`` (utime+stime of the service process over the level /
requests, ``start`` included: the main figure, it barely depends on other load on the
machine), ``turns_per_s``, handle latency p50/p95 in ms (inflated by other load), and a digest
of every reply text and intent at concurrency 1 (the same digest before and after a change
means the dialog decided the same things).

    PYTHONPATH=$PWD .venv/bin/python bench/dialog_turns.py --label after
    PYTHONPATH=$PWD .venv/bin/python bench/dialog_turns.py --label before --levels 1,8

writes (merges into) ``bench/results/dialog_turns.json`` under ``runs[LABEL]``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voicebot.dialog.action_server import ActionServer  # noqa: E402
from voicebot.services.dialog_client import RemoteDialog  # noqa: E402
from voicebot.services.host import ServiceProcess  # noqa: E402
from voicebot.services.protocol import parse_address  # noqa: E402

FROZEN_NOW = "2026-11-23T18:30:00+00:00"  # the tests' clock (a Monday, 18:30)
#: what the voice_load callers say (tests/audio transcripts), and a balance check
CONVERSATIONS: list[list[str]] = [
    [
        "hi what time are you open on saturday",
        "is there an outage at postcode m one one a a",
        "no thanks goodbye",
    ],
    ["what is my balance", "23456789", "4321", "no thank you goodbye"],
    [
        "when are you open",
        "is there an outage at postcode m one one a a",
        "that's all thank you bye",
    ],
]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """utime + stime of ``pid`` in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def conversation(
    dialog: RemoteDialog, index: int, latencies: list[float], log: list[str]
) -> int:
    """One scripted call; returns the number of requests sent (start included)."""
    call = f"bench-{index}-{uuid.uuid4().hex[:8]}"
    script = CONVERSATIONS[index % len(CONVERSATIONS)]
    reply = await dialog.start(call, None)
    log.append(f"{index}|start|{' '.join(reply.texts)}")
    for text in script:
        began = time.perf_counter()
        reply = await dialog.handle(call, text)
        latencies.append((time.perf_counter() - began) * 1000)
        log.append(f"{index}|{text}|{reply.intent}|{' '.join(reply.texts)}")
    await dialog.end_call(call)
    return 1 + len(script)


async def level(dialog: RemoteDialog, pid: int, n: int) -> dict[str, object]:
    latencies: list[float] = []
    log: list[str] = []
    cpu0, wall0 = cpu_s(pid), time.perf_counter()
    results = await asyncio.gather(
        *(conversation(dialog, i, latencies, log) for i in range(n)), return_exceptions=True
    )
    cpu1, wall1 = cpu_s(pid), time.perf_counter()
    failed = [str(r) for r in results if isinstance(r, BaseException)]
    # a failed conversation's requests are not known exactly: its replies logged so far
    requests = sum(r for r in results if isinstance(r, int)) + sum(
        1 for line in log if int(line.split("|", 1)[0]) in
        {i for i, r in enumerate(results) if isinstance(r, BaseException)}
    )  # fmt: skip
    return {
        "conversations": n,
        "failed_conversations": len(failed),
        "failures": sorted(set(failed))[:3],
        "requests": requests,
        "cpu_s": round(cpu1 - cpu0, 2),
        "cpu_ms_per_turn": round((cpu1 - cpu0) * 1000 / requests, 1),
        "wall_s": round(wall1 - wall0, 2),
        "turns_per_s": round(requests / (wall1 - wall0), 2),
        "handle_ms_p50": round(pct(latencies, 0.5)),
        "handle_ms_p95": round(pct(latencies, 0.95)),
        "replies_sha1": hashlib.sha1("\n".join(sorted(log)).encode()).hexdigest()[:12],
        "_log": log,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--levels", default="1,8,32")
    parser.add_argument("--repeat", type=int, default=2, help="runs per level (best CPU kept)")
    parser.add_argument("--label", default="after")
    parser.add_argument("--note", default="")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/dialog_turns.json")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="dialog-turns-"))
    endpoint = f"http://127.0.0.1:{free_port()}/webhook"
    actions = ActionServer(
        endpoint,
        env={"VOICEBOT_NOW": FROZEN_NOW, "VOICEBOT_VAR": str(folder),
             "VOICEBOT_DEMO_CUSTOMERS": "1"},
        log_path=folder / "action-server.log",
    )  # fmt: skip
    cfg = folder / "settings.yml"
    cfg.write_text(
        f"dialog:\n  action_endpoint: {endpoint}\n  tracker_store: sqlite\n"
        f"services:\n  dialog_address: unix:{folder}/dialog.sock\n"
    )
    env = {**os.environ, "VOICEBOT_CONFIG": str(cfg), "VOICEBOT_VAR": str(folder),
           "VOICEBOT_NOW": FROZEN_NOW}  # fmt: skip
    service = ServiceProcess("dialog", parse_address(f"unix:{folder}/dialog.sock"), folder, env)
    actions.start(timeout_s=120, reuse=False)
    service.spawn()
    rows: list[dict[str, object]] = []
    try:
        deadline = time.monotonic() + 900
        while not (service.status().get("stage") == "ready" and service.health().get("ok")):
            if not service.alive() or time.monotonic() > deadline:
                print(service.log_path.read_text()[-3000:], file=sys.stderr)
                return 1
            time.sleep(0.5)
        assert service.proc is not None
        pid = service.proc.pid
        dialog = RemoteDialog(service.address, timeout_s=600.0)
        asyncio.run(level(dialog, pid, 2))  # warm caches and connections
        for n in (int(x) for x in args.levels.split(",")):
            best: dict[str, object] | None = None
            for _ in range(args.repeat):
                load = loadavg()
                row = asyncio.run(level(dialog, pid, n))
                row["loadavg_1min_at_start"] = load
                if best is None or float(row["cpu_ms_per_turn"]) < float(best["cpu_ms_per_turn"]):  # type: ignore[arg-type]
                    best = row
            assert best is not None
            if n == 1:
                print("\n".join(best["_log"]))  # type: ignore[arg-type]
            best.pop("_log")
            print(json.dumps(best))
            rows.append(best)
    finally:
        service.stop()
        actions.stop()
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    results["what"] = (
        "the dialog service alone (real model, action server, SQLite tracker store) driven "
        "over its socket by N concurrent scripted conversations; cpu_ms_per_turn = service "
        "process CPU / requests (start included); best of --repeat runs per level"
    )
    results["command"] = "PYTHONPATH=$PWD .venv/bin/python bench/dialog_turns.py --label LABEL"
    results.setdefault("runs", {})[args.label] = {
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "note": args.note,
        "levels": rows,
    }
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
