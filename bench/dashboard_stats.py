"""The dashboard over many call records: statistics page time and record-writing cost.

    nice -n 10 python bench/dashboard_stats.py [--calls 100000] [--days 30] [--url URL]
        [--out bench/results/dashboard.json]

1. Fills a fresh database (SQLite under a temp folder, or ``--url``) with ``--calls``
   synthetic call records over ``--days`` days (fixed seed; 1-8 turns each, outcomes,
   departments, latencies drawn from fixed distributions), through ``RecordStore.write``'s
   tables in bulk.
2. Serves the real dashboard app on 127.0.0.1, logs in over HTTP and times
   ``GET /stats`` (the whole HTML page, server-rendered charts included) for today and for
   the whole range: the first request (``first_ms``: with no stored daily aggregates it
   computes and stores those of the closed days; the dashboard's housekeeping does this
   at start in the background), then 7 more: median and max, ms. Target: < 500 ms.
3. Record-writing cost per caller turn: a real :class:`CallRecorder` over the same store
   follows a call of 6 turns (a stand-in session object holding real ``TurnLog`` and
   dialog ``Conversation`` objects: no models are loaded), 200 calls. Reported: the time
   ``update()`` takes on the call's path (target < 5 ms) and the writer thread's time per
   database write (off the call's path).
The numbers depend on the machine's load; run it niced when others are busy.
"""

from __future__ import annotations

import argparse
import asyncio
import http.cookiejar
import json
import platform
import random
import re
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voicebot.records.schema import LATENCY_BUCKET_MS, calls, turns  # noqa: E402
from voicebot.records.store import RecordStore, utcnow  # noqa: E402

INTENTS = ["check_balance", "opening_hours", "billing_question", "report_outage", "inform",
           "affirm", "deny", "goodbye", "nlu_fallback", "cancel_contract", "move_house",
           "complaint", "technical_support", "order_status"]  # fmt: skip
DEPARTMENTS = ["billing", "technical_support", "contracts", "customer_service", "complaints"]
REASONS = ["routed", "out_of_hours", "identification_failed", "no_input", "caller_request"]


def fill(store: RecordStore, n: int, days: int, seed: int = 7) -> None:
    """``n`` synthetic calls over the last ``days`` days (today included)."""
    rng = random.Random(seed)
    now = utcnow()
    first = datetime.combine((now - timedelta(days=days - 1)).date(), datetime.min.time())
    span = (now - first).total_seconds()
    call_rows: list[dict[str, Any]] = []
    turn_rows: list[dict[str, Any]] = []

    def flush() -> None:
        with store.engine.begin() as conn:
            if call_rows:
                conn.execute(sa.insert(calls), call_rows)
            if turn_rows:
                conn.execute(sa.insert(turns), turn_rows)
        call_rows.clear()
        turn_rows.clear()

    for i in range(n):
        started = first + timedelta(seconds=rng.random() * span)
        outcome = rng.choices(
            ["resolved", "routed", "message", "abandoned", "error"], [55, 25, 8, 10, 2]
        )[0]
        handed = outcome in ("routed", "message")
        k = rng.randint(1, 8)
        duration = 15 + 12 * k + rng.random() * 30
        cid = f"bench-{i:07d}"
        call_rows.append(
            {
                "id": cid, "sip_call_id": f"sip-{i}", "direction": "inbound",
                "caller_id": f"+4416329{i % 100000:05d}", "started_at": started,
                "answered_at": started, "ended_at": started + timedelta(seconds=duration),
                "duration_s": duration, "start_hour": started.hour, "status": "ended",
                "outcome": outcome, "turn_count": k, "updated_at": started,
                "department": rng.choice(DEPARTMENTS) if handed else None,
                "reason": rng.choice(REASONS) if handed else None,
                "handoff": json.dumps({"department": "billing"}) if handed else None,
            }
        )  # fmt: skip
        for j in range(1, k + 1):
            latency = max(150.0, rng.lognormvariate(6.2, 0.45))
            turn_rows.append(
                {
                    "call_id": cid, "idx": j, "call_started_at": started, "start_s": j * 6.0,
                    "end_s": j * 6.0 + 2, "source": rng.choice(["speech"] * 4 + ["dtmf"]),
                    "expect": "free", "heard": "I would like to check my balance please",
                    "redacted": 0, "asr_confidence": rng.uniform(0.3, 1.0),
                    "intent": rng.choice(INTENTS), "intent_confidence": rng.uniform(0.2, 1.0),
                    "action": "reply", "bot": json.dumps(["Sure."]), "endpoint_ms": 200.0,
                    "asr_ms": 300.0, "dialog_ms": 150.0, "tts_first_ms": 60.0,
                    "latency_ms": latency, "latency_bucket": int(latency // LATENCY_BUCKET_MS),
                }
            )  # fmt: skip
        if len(call_rows) >= 5000:
            flush()
    flush()


def serve(app: Any) -> tuple[int, asyncio.AbstractEventLoop]:
    from aiohttp import web

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    port_box: list[int] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        runner = web.AppRunner(app)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        port_box.append(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        ready.set()
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    ready.wait(30)
    return port_box[0], loop


def login(base: str, user: str, password: str) -> urllib.request.OpenerDirector:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/login").read().decode()
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    form = {"csrf": token, "user": user, "password": password, "next": "/stats"}
    opener.open(f"{base}/login", urllib.parse.urlencode(form).encode()).read()
    return opener


def time_get(opener: urllib.request.OpenerDirector, url: str, runs: int) -> dict[str, Any]:
    t = time.perf_counter()
    opener.open(url).read()  # the first: computes and stores the closed days' aggregates
    first_ms = (time.perf_counter() - t) * 1000
    times = []
    body = ""
    for _ in range(runs):
        t = time.perf_counter()
        body = opener.open(url).read().decode()
        times.append((time.perf_counter() - t) * 1000)
    calls_shown = re.search(r'<div class="v">(\d+)</div><div class="k">Calls<', body)
    return {
        "first_ms": round(first_ms, 1),
        "median_ms": round(statistics.median(times), 1),
        "max_ms": round(max(times), 1),
        "calls_shown": int(calls_shown.group(1)) if calls_shown else None,
    }


def recorder_cost(store: RecordStore, n_calls: int = 200, n_turns: int = 6) -> dict[str, Any]:
    from voicebot.calllog import CallResult, TurnLog
    from voicebot.dialog.bridge import Conversation
    from voicebot.events import Outcome
    from voicebot.records.recorder import CallRecorder

    recorder = CallRecorder(store)
    for c in range(n_calls):
        conv = Conversation(f"bench-rec-{c}")
        line = SimpleNamespace(caller_id="+441632960001", now=lambda: 42.0)
        session = SimpleNamespace(
            call_id=conv.call_id, line=line, turn_logs=[], greeting=["Hello."],
            idle=threading.Event(),
            bridge=SimpleNamespace(conversation=lambda _id, conv=conv: conv),
        )  # fmt: skip
        recorder.update(session)
        for i in range(1, n_turns + 1):
            entry = TurnLog(i, i * 5.0, i * 5.0 + 2, "what time do you open", 0.9, "speech")
            session.turn_logs.append(entry)
            recorder.update(session)  # the caller's turn is heard
            entry.intent, entry.intent_confidence, entry.bot = "opening_hours", 0.93, ["9 to 5."]
            conv.intents.append("opening_hours")
            recorder.update(session)  # the bot answers
            entry.latency_ms = 640.0
        recorder.call_ended(session, CallResult(conv.call_id, Outcome("resolved"), [], []))
        recorder.flush()
    path = sorted(recorder.update_ms)
    writes = sorted(recorder.write_ms)
    per_turn = [a + b for a, b in zip(path[::2], path[1::2], strict=False)]
    return {
        "calls": n_calls,
        "turns_per_call": n_turns,
        "update_on_call_path_ms": {
            "p50": round(statistics.median(path), 3),
            "p95": round(path[int(0.95 * (len(path) - 1))], 3),
            "max": round(path[-1], 3),
        },
        "two_updates_per_turn_p95_ms": round(sorted(per_turn)[int(0.95 * (len(per_turn) - 1))], 3),
        "writer_thread_per_write_ms": {
            "p50": round(statistics.median(writes), 2),
            "p95": round(writes[int(0.95 * (len(writes) - 1))], 2),
        },
        "write_errors": recorder.write_errors,
    }


def main() -> int:
    from voicebot.messages import MessageStore
    from voicebot.web.app import make_app
    from voicebot.web.auth import UserDirectory

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--url", help="database URL (default: SQLite in a temp folder)")
    ap.add_argument(
        "--reuse", action="store_true", help="keep the calls already in --url (filled before)"
    )
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/dashboard.json")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="voicebot-bench-dash-"))
    store = RecordStore(args.url or f"sqlite:///{tmp / 'records.sqlite3'}")
    t = time.perf_counter()
    if not (args.reuse and store.count_calls() >= args.calls):
        fill(store, args.calls, args.days)
    fill_s = time.perf_counter() - t
    with store.engine.begin() as conn:  # measure the first request without stored days
        conn.execute(sa.text("DELETE FROM stats_days"))
    n_turns = None
    with store.engine.connect() as conn:
        n_turns = conn.execute(sa.select(sa.func.count()).select_from(turns)).scalar_one()
    print(f"{args.calls} calls, {n_turns} turns in the database ({fill_s:.1f} s)", flush=True)
    users = UserDirectory(tmp / "users.yml")
    users.add("bench", "bench-password", "supervisor")
    app = make_app(store, MessageStore(tmp / "messages.sqlite3"), users, housekeeping=False)
    port, _ = serve(app)
    base = f"http://127.0.0.1:{port}"
    opener = login(base, "bench", "bench-password")
    today = utcnow().date()
    first = today - timedelta(days=args.days - 1)
    result: dict[str, Any] = {
        "backend": store.backend,
        "calls": args.calls,
        "turns": n_turns,
        "days": args.days,
        "stats_page_today": time_get(opener, f"{base}/stats", args.runs),
        "stats_page_all_days": time_get(
            opener, f"{base}/stats?from={first.isoformat()}&to={today.isoformat()}", args.runs
        ),
        "recorder": recorder_cost(store),
        "fill_s": round(fill_s, 1),
        "machine": {
            "cpus": __import__("os").cpu_count(),
            "python": platform.python_version(),
            "loadavg_1min": round(__import__("os").getloadavg()[0], 1),
        },  # fmt: skip
        "target_ms": {"stats_page": 500, "record_write_per_turn": 5},
    }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
