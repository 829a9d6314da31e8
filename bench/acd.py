"""ACD: 20 agents, 40 callers arriving at random within a minute; service level and waits.

    python bench/acd.py [--agents 20] [--callers 40] [--window-s 60] [--seeds 20]
        [--out bench/results/acd_simulation.json]

The simulation on a virtual clock (no SIP). ``bench/acd_sip.py`` runs the same load over real
SIP and writes ``bench/results/acd.json``; this one's result moved to acd_simulation.json.

What runs: the real agent board (SQLite, as every host process shares it) and the real
distributor (queue order, longest-idle agent, missed and refused offers, announcements,
message offer), with simulated callers and agents' phones on a virtual clock
(:mod:`voicebot.center.simulation`): agents pick up in 2-6 s, let 5% of calls ring out
(15 s; they come back 30 s later), refuse 2% after the 3 s whisper, talk 150 s on average
(lognormal); callers hang up after 60-400 s of waiting. No SIP: ringing real phones over
SIP is in bench/acd_sip.py, so this measures the distribution logic and its
throughput, not telephony. Each seed is one independent day; the JSON has every seed and
the mean, and a PNG the wait-time distribution.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from statistics import mean
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voicebot.center.acd_stats import queue_figures  # noqa: E402
from voicebot.center.agents import load_agents  # noqa: E402
from voicebot.center.board import AgentBoard  # noqa: E402
from voicebot.center.simulation import run_virtual, simulate_day  # noqa: E402
from voicebot.departments import REQUIRED_KEYS  # noqa: E402

FIRST_LINE = ["billing", "customer_service", "sales", "contracts"]


def roster_file(folder: Path, agents: int) -> Path:
    """``agents`` agents, each on two first-line departments, in rotation."""
    entries = {
        f"agent{i:02d}": {
            "name": f"Agent {i:02d}",
            "sip_user": f"agent{i:02d}",
            "departments": [FIRST_LINE[i % 4], FIRST_LINE[(i + 1) % 4]],
        }
        for i in range(agents)
    }
    path = folder / "agents.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "acd": {
                    "ring_timeout_s": 15,
                    "wrap_up_s": 30,
                    "service_level_s": 20,
                    "service_level_target": 0.8,
                    "announce_every_s": 30,
                    "max_wait_s": 180,
                },
                "agents": entries,
            }
        )
    )
    return path


def one_day(folder: Path, agents: int, callers: int, window_s: float, seed: int) -> dict[str, Any]:
    roster = load_agents(roster_file(folder, agents), departments=set(REQUIRED_KEYS))
    board = AgentBoard(folder / "acd.sqlite3", roster)
    started = time.perf_counter()
    stays = run_virtual(simulate_day(board, FIRST_LINE, callers, window_s, seed=seed))
    wall = time.perf_counter() - started
    figures = queue_figures(board).as_dict()
    figures.pop("agents")
    figures["waits_s"] = [round(s.wait_s, 2) for s in stays if s.result == "answered"]
    figures["offers_missed"] = sum(1 for s in stays for _, r in s.offers if r == "missed")
    figures["offers_refused"] = sum(1 for s in stays for _, r in s.offers if r == "refused")
    figures["wall_s"] = round(wall, 2)
    figures["seed"] = seed
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--callers", type=int, default=40)
    parser.add_argument("--window-s", type=float, default=60.0)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/acd_simulation.json")
    args = parser.parse_args()
    days = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(1, args.seeds + 1):
            folder = Path(tmp) / f"seed{seed}"
            folder.mkdir()
            days.append(one_day(folder, args.agents, args.callers, args.window_s, seed))
            d = days[-1]
            print(
                f"seed {seed:2d}: service level {d['service_level']:.0%} "
                f"(answered {d['answered']}, within 20 s {d['answered_within_sl']}, "
                f"abandoned {d['abandoned']}), wait p50 {d['wait_s_p50']:.0f} s "
                f"p95 {d['wait_s_p95']:.0f} s, {d['wall_s']:.2f} s wall"
            )
    keys = ("service_level", "answered", "abandoned", "wait_s_mean", "wait_s_p50", "wait_s_p95")
    summary = {k: round(mean(float(d[k]) for d in days), 3) for k in keys}
    result = {
        "what": __doc__.strip().splitlines()[0],
        "setup": {
            "agents": args.agents,
            "callers": args.callers,
            "arrival_window_s": args.window_s,
            "departments": FIRST_LINE,
            "telephony": "simulated (no SIP): real SQLite board + real distributor",
        },
        "mean_over_seeds": summary,
        "days": days,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"mean over {len(days)} days: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        waits = [w for d in days for w in d["waits_s"]]
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.hist(waits, bins=40, color="#3b6ea5")
        ax.axvline(20, color="#c0392b", linestyle="--", label="service level 20 s")
        ax.set_xlabel("wait until an agent answered, s")
        ax.set_ylabel("calls")
        ax.set_title(f"{args.agents} agents, {args.callers} callers in {args.window_s:.0f} s")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.out.with_suffix(".png"), dpi=100)
    except ImportError:
        pass
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
