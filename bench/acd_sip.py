#!/usr/bin/env python3
"""ACD over real SIP: 20 agents' phones, 40 callers arriving at random within a minute.

    .venv/bin/python bench/acd_sip.py [--agents 20] [--callers 40] [--window-s 60]
        [--talk-s 20,90] [--seed 1] [--out bench/results/acd.json]

What is real: ``voicebot serve`` with ``sip.acd: true`` (Kamailio as the agents' registrar,
pjsua2 workers running the product's call handler, the shared speech and dialog services:
Rasa, Piper, the VAD), the SQLite agent board, the call records with their ACD statistics
(``queue_stays``), and every phone: agents are pjsua2 user agents that REGISTER to Kamailio
(4 per process, bench/acd_phones.py), callers are pjsua2 user agents that call the bot and
press 1 on the keypad menu (billing), the cheapest way into a department queue (no speech
to recognise). Announcements and whispers are synthesized by Piper; the agent hears the
whisper, then is bridged to the caller by the worker.

What is shortened or chosen for the bench: talk time 20-90 s (uniform) instead of minutes,
wrap-up 5 s, ring timeout 10 s, missed agents are not paused (``missed_pauses: false``:
nobody would un-pause them), agents answer after 2-6 s and let 10% of offers ring out,
callers' patience 20-150 s after pressing 1 (then they hang up unless an agent has the call,
which the harness reads from the agent board), callers and agents send silence. All 20
agents take billing. The figures are read back from the call records (what the dashboard
shows) and cross-checked with the agent board. CPU and memory are sampled from /proc every
second for the voicebot process tree (supervisor, Kamailio, workers, services) and for the
phones. On this machine 2 cores are shared with other jobs: CPU numbers and waits are
inflated by their load (the 1-minute load average is in the JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voicebot.center.acd_stats import queue_figures  # noqa: E402
from voicebot.center.agents import load_agents  # noqa: E402
from voicebot.center.board import AgentBoard  # noqa: E402
from voicebot.records.acd import acd_figures  # noqa: E402
from voicebot.records.store import RecordStore, utcnow  # noqa: E402

PHONES = ROOT / "bench" / "acd_phones.py"
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
_used: set[int] = set()


def free_port(span: int = 1) -> int:
    """A port (and the ``span - 1`` above it) free for UDP and TCP on 127.0.0.1."""
    for _ in range(500):
        base = random.randrange(21000, 59000 - span, 2)
        if any(p in _used for p in range(base, base + span)):
            continue
        socks = []
        try:
            for p in range(base, base + span):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    s = socket.socket(socket.AF_INET, kind)
                    socks.append(s)
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        _used.update(range(base, base + span))
        return base
    raise RuntimeError("no free port")


def _tree(root: int) -> list[int]:
    """``root`` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _usage(pids: list[int]) -> tuple[float, float]:
    """(CPU seconds, RSS MB) summed over ``pids``."""
    cpu, rss = 0.0, 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / TICK
            rss += int(fields[21]) * PAGE / 1e6
        except (OSError, IndexError, ValueError):
            continue
    return cpu, rss


class Sampler(threading.Thread):
    """CPU % (of one core) and RSS of process groups, every ``every_s``."""

    def __init__(self, groups: dict[str, Any], every_s: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.groups = groups  # name -> callable returning root pids
        self.every_s = every_s
        self.samples: dict[str, list[tuple[float, float]]] = {k: [] for k in groups}
        self.load: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        last: dict[str, tuple[float, float]] = {}
        while not self.stop.wait(self.every_s):
            now = time.monotonic()
            self.load.append(os.getloadavg()[0])
            for name, roots in self.groups.items():
                pids = [p for r in roots() for p in _tree(r)]
                cpu, rss = _usage(pids)
                if name in last:
                    t0, c0 = last[name]
                    self.samples[name].append((100 * max(0.0, cpu - c0) / (now - t0), rss))
                last[name] = (now, cpu)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, rows in self.samples.items():
            if not rows:
                continue
            cpu = [r[0] for r in rows]
            out[name] = {
                "cpu_pct_mean": round(sum(cpu) / len(cpu), 1),
                "cpu_pct_peak": round(max(cpu), 1),
                "rss_mb_peak": round(max(r[1] for r in rows), 1),
            }
        if self.load:
            out["loadavg_1m_mean"] = round(sum(self.load) / len(self.load), 2)
            out["loadavg_1m_peak"] = round(max(self.load), 2)
        return out


def write_config(folder: Path, args: argparse.Namespace) -> None:
    agents = {
        f"agent{i:02d}": {
            "name": f"Agent {i:02d}",
            "sip_user": f"agent{i:02d}",
            "departments": ["billing"],
        }
        for i in range(1, args.agents + 1)
    }
    acd = {
        "ring_timeout_s": 10,
        "wrap_up_s": 5,
        "missed_pauses": False,
        "service_level_s": 20,
        "service_level_target": 0.8,
        "announce_every_s": 30,
        "max_wait_s": 600,
    }
    (folder / "agents.yml").write_text(yaml.safe_dump({"acd": acd, "agents": agents}))
    sip = {
        "acd": True,
        "calls_per_worker": 4,
        "rtp_ports": 40,
        "shutdown_grace_s": 5,
        "max_call_s": 900,
        "worker_start_s": 600,
    }
    # the dialog service loads Rasa: on a machine shared with other jobs it has taken >10 min
    services = {"start_timeout_s": 1800.0}
    (folder / "settings.yml").write_text(yaml.safe_dump({"sip": sip, "services": services}))


def serve(folder: Path, args: argparse.Namespace) -> tuple[subprocess.Popen[str], int, dict]:
    port, workers, rtp = free_port(), free_port(args.workers), free_port(40 * args.workers)
    env = {
        **os.environ,
        "VOICEBOT_CONFIG": str(folder / "settings.yml"),
        "VOICEBOT_VAR": str(folder / "var"),
        "VOICEBOT_AGENTS": str(folder / "agents.yml"),
        "PYTHONPATH": str(ROOT),
    }
    log = open(folder / "serve.log", "w")  # noqa: SIM115 - the child writes it
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicebot.cli", "serve", "--port", str(port),
         "--workers", str(args.workers), "--worker-base-port", str(workers),
         "--rtp-base-port", str(rtp)],
        stdout=log, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
        start_new_session=True,
    )  # fmt: skip
    end = time.monotonic() + 2400
    while time.monotonic() < end:
        text = (folder / "serve.log").read_text(errors="replace")
        if "answering SIP" in text:
            return proc, port, env
        if proc.poll() is not None:
            break
        time.sleep(1.0)
    stop(proc)
    raise SystemExit("voicebot serve did not start:\n" + text[-3000:])


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def phones(folder: Path, mode: str, plans: list[dict], port: int) -> list[subprocess.Popen]:
    procs = []
    for i, plan in enumerate(plans):
        path = folder / f"{mode}{i}.json"
        path.write_text(json.dumps(plan))
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(PHONES),
                    mode,
                    "--plan",
                    str(path),
                    "--registrar",
                    f"127.0.0.1:{port}",
                    "--port",
                    str(free_port()),
                    "--rtp-port",
                    str(free_port(40)),
                    "--report",
                    str(folder / f"{mode}{i}.report.json"),
                ],
                stdout=open(folder / f"{mode}{i}.log", "w"),
                stderr=subprocess.STDOUT,  # noqa: SIM115
                cwd=folder,
            )  # fmt: skip
        )
    return procs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=20)
    ap.add_argument("--callers", type=int, default=40)
    ap.add_argument("--window-s", type=float, default=60.0)
    ap.add_argument("--talk-s", default="20,90", help="agents' talk time range, s")
    ap.add_argument("--answer-s", default="2,6", help="agents' time to pick up, s")
    ap.add_argument("--ring-out", type=float, default=0.1, help="share of offers let ring")
    ap.add_argument("--patience-s", default="20,150", help="callers' patience range, s")
    ap.add_argument("--workers", type=int, default=20, help="call workers (2 calls each)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/acd.json")
    args = ap.parse_args()
    talk = tuple(float(x) for x in args.talk_s.split(","))
    answer = tuple(float(x) for x in args.answer_s.split(","))
    patience = tuple(float(x) for x in args.patience_s.split(","))
    rng = random.Random(args.seed)
    folder = Path(tempfile.mkdtemp(prefix="acd-sip-"))
    write_config(folder, args)
    roster = load_agents(folder / "agents.yml")
    t_start = time.monotonic()
    proc, port, _ = serve(folder, args)
    started_s = time.monotonic() - t_start
    print(f"voicebot serve up in {started_s:.0f} s ({args.workers} workers)", flush=True)
    board_path = folder / "var" / "acd.sqlite3"
    records_path = folder / "var" / "records.sqlite3"
    agent_procs: list[subprocess.Popen] = []
    caller_procs: list[subprocess.Popen] = []
    sampler = Sampler(
        {
            "voicebot": lambda: [proc.pid],
            "phones": lambda: [p.pid for p in agent_procs + caller_procs if p.poll() is None],
        }
    )
    sampler.start()
    try:
        users = list(roster.agents)
        stop_file = folder / "stop-agents"
        agent_plans = [
            {
                "users": users[i : i + 4],
                "seed": args.seed * 1000 + i,
                "answer_s": answer,
                "talk_s": talk,
                "ring_out": args.ring_out,
                "duration_s": 1800,
                "stop_file": str(stop_file),
            }
            for i in range(0, len(users), 4)
        ]
        agent_procs = phones(folder, "agents", agent_plans, port)
        board = AgentBoard(board_path, roster)
        end = time.monotonic() + 120
        while time.monotonic() < end:
            ready = [s for s in board.status(time.monotonic()) if s.registered]
            if len(ready) == len(users):
                break
            time.sleep(0.5)
        print(f"{len(ready)} of {len(users)} agents registered", flush=True)
        arrivals = sorted(rng.uniform(0, args.window_s) for _ in range(args.callers))
        callers = [
            {"at": round(at, 2), "user": f"07000{i:05d}", "patience_s": rng.uniform(*patience)}
            for i, at in enumerate(arrivals)
        ]
        n_proc = (args.callers + 3) // 4
        start_wall = time.time() + 5.0
        caller_plans = [
            {
                "callers": callers[i::n_proc],
                "start_wall": start_wall,
                "target": f"sip:bot@127.0.0.1:{port}",
                "sip_logs": str(folder / "var" / "sip"),
                "board": str(board_path),
                "duration_s": args.window_s + 900,
                "max_call_s": 600,
            }
            for i in range(n_proc)
        ]
        first_call = utcnow()
        caller_procs = phones(folder, "callers", caller_plans, port)
        for p in caller_procs:
            p.wait(args.window_s + 1000)
        last_call = utcnow()
        stop_file.touch()
        for p in agent_procs:
            p.wait(30)
        time.sleep(3.0)  # the workers write the last queue stays
        run_s = (last_call - first_call).total_seconds()
    finally:
        sampler.stop.set()
        stop_file = folder / "stop-agents"
        stop_file.touch()
        for p in agent_procs + caller_procs:
            if p.poll() is None:
                p.kill()
        stop(proc)
    store = RecordStore(f"sqlite:///{records_path}")
    figures = acd_figures(
        store, first_call - timedelta(minutes=5), last_call + timedelta(minutes=5)
    ).as_dict()
    on_board = queue_figures(AgentBoard(board_path, roster)).as_dict()
    harness = summarize_phones(folder, len(caller_plans), len(agent_plans))
    outcomes: dict[str, int] = {}
    import sqlite3

    with sqlite3.connect(records_path) as db:
        for outcome, n in db.execute("SELECT outcome, COUNT(*) FROM calls GROUP BY outcome"):
            outcomes[str(outcome)] = n
    result = {
        "what": __doc__.strip().splitlines()[0],
        "real": (
            "voicebot serve (Kamailio registrar + proxy, pjsua2 workers with the product call "
            "handler, shared speech and dialog services: Rasa, Piper, VAD), SQLite agent "
            "board, call records + queue_stays; agents are pjsua2 phones that REGISTER; "
            "callers are pjsua2 phones pressing 1 (keypad menu: billing)"
        ),
        "shortened": {
            "talk_s": talk,
            "wrap_up_s": 5,
            "ring_timeout_s": 10,
            "missed_pauses": False,
            "agent_answer_s": answer,
            "ring_out_share": args.ring_out,
            "caller_patience_s_after_key": patience,
            "audio": "callers and agents send silence (no ASR work); whisper and queue "
            "announcements are real Piper speech",
        },
        "setup": {
            "agents": args.agents,
            "callers": args.callers,
            "arrival_window_s": args.window_s,
            "workers": args.workers,
            "calls_per_worker": 4,
            "seed": args.seed,
            "service_level_s": 20,
            "serve_start_s": round(started_s, 1),
            "run_s": round(run_s, 1),
        },
        "from_call_records": figures,
        "from_agent_board": {
            k: on_board[k]
            for k in (
                "queued",
                "answered",
                "abandoned",
                "messages",
                "service_level",
                "wait_s_p50",
                "wait_s_p95",
            )
        },  # fmt: skip
        "call_outcomes_in_records": outcomes,
        "phones": harness,
        "resources": sampler.summary(),
        "load_note": (
            "2 CPU cores shared with 6 other helpers' jobs during the run: CPU % and waits "
            "are taken under their load (see loadavg)."
        ),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    f = figures
    print(
        f"queued {f['queued']}, answered {f['answered']} ({f['answered_within_sl']} within "
        f"20 s), abandoned {f['abandoned']}, service level {f['service_level']}, wait p50 "
        f"{f['wait_s_p50']} s p95 {f['wait_s_p95']} s; resources {result['resources']}"
    )
    print(f"wrote {args.out} (work folder {folder})")
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


def summarize_phones(folder: Path, callers: int, agents: int) -> dict[str, Any]:
    """What the phones saw: calls connected, keys pressed, hang-ups by patience, agents'
    calls answered / let ring out."""
    out = {"callers_called": 0, "callers_connected": 0, "callers_pressed_1": 0,
           "callers_abandoned_by_patience": 0, "agent_offers": 0, "agent_answered": 0,
           "agent_rang_out": 0, "agent_busy_rejects": 0}  # fmt: skip
    for i in range(callers):
        path = folder / f"callers{i}.report.json"
        if not path.exists():
            continue
        for e in json.loads(path.read_text())["events"]:
            kind = e["event"]
            out["callers_called"] += kind == "call"
            out["callers_connected"] += kind == "connected"
            out["callers_pressed_1"] += kind == "pressed"
            out["callers_abandoned_by_patience"] += kind == "abandon"
    for i in range(agents):
        path = folder / f"agents{i}.report.json"
        if not path.exists():
            continue
        for e in json.loads(path.read_text())["events"]:
            kind = e["event"]
            out["agent_offers"] += kind == "ringing"
            out["agent_answered"] += kind == "answered"
            out["agent_rang_out"] += kind == "ringing" and bool(e.get("ring_out"))
            out["agent_busy_rejects"] += kind == "busy-reject"
    return out


if __name__ == "__main__":
    sys.exit(main())
