"""The campaign dialer and its store at survey scale, without telephony.

    python bench/campaign_dialer.py [--contacts 10000] [--concurrent 16] [--rate 2]
        [--out bench/results/campaign_dialer.json]

Runs the real dialer and the real SQLite campaign store over ``--contacts`` contacts in
four time zones with simulated respondents (:mod:`voicebot.center.campaigns.simulation`:
45% complete the survey, 10% busy, 15% no answer, 10% machine, 8% hang up mid-survey, 5%
"call me later", 4% "don't call me again", 3% refuse) on a virtual clock. It measures what
the dialer itself costs — wall-clock CPU per call placed, the store's size — and the
campaign's course in simulated time (calls per minute at the pacing limits, days needed,
the funnel). It is NOT the issue's SIP benchmark: that is bench/campaign_sip.py.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voicebot.center.campaigns.contacts import Contact  # noqa: E402
from voicebot.center.campaigns.dialer import Dialer  # noqa: E402
from voicebot.center.campaigns.results import report  # noqa: E402
from voicebot.center.campaigns.simulation import Respondents  # noqa: E402
from voicebot.center.campaigns.spec import parse_campaign  # noqa: E402
from voicebot.center.campaigns.store import CampaignStore  # noqa: E402
from voicebot.center.simulation import run_virtual  # noqa: E402

ZONES = ["Europe/London", "Europe/Amsterdam", "America/New_York", "Asia/Tokyo"]
START = datetime(2026, 12, 7, 8, 0, tzinfo=UTC).timestamp()  # a Monday


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--concurrent", type=int, default=16)
    parser.add_argument("--rate", type=float, default=2.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/campaign_dialer.json")
    args = parser.parse_args()
    spec = parse_campaign(
        {
            "name": "bench",
            "dialog": "survey_csat",
            "window": {"days": "mon-sat", "hours": "09:00-20:00"},
            "pacing": {"max_concurrent": args.concurrent, "max_rate_per_s": args.rate},
        },
        Path("bench.yml"),
    )
    rng = random.Random(1)
    contacts = [
        Contact(i + 2, f"+4416{i:08d}", f"P{i}", rng.choice(ZONES), "en")
        for i in range(args.contacts)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        store = CampaignStore(Path(tmp) / "campaigns.sqlite3")
        t0 = time.perf_counter()
        store.import_campaign(spec, contacts, START)
        import_s = time.perf_counter() - t0
        respondents = Respondents(seed=1, epoch=START)
        cpu0 = time.process_time()
        t0 = time.perf_counter()

        async def go():  # type: ignore[no-untyped-def]
            dialer = Dialer(store, "bench", respondents, epoch=START)
            stats = await dialer.run()
            return stats, dialer.now()

        (stats, end), wall = run_virtual(go()), 0.0
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        result = report(store, "bench")
        size = sum(p.stat().st_size for p in Path(tmp).glob("campaigns.sqlite3*"))
    simulated_h = (end - START) / 3600
    out = {
        "what": __doc__.strip().splitlines()[0],
        "telephony": "simulated respondents on a virtual clock (no SIP)",
        "contacts": args.contacts,
        "pacing": {"max_concurrent": args.concurrent, "max_rate_per_s": args.rate},
        "import_s": round(import_s, 2),
        "calls_placed": stats.placed,
        "peak_concurrent": stats.peak_concurrent,
        "dialer_wall_s": round(wall, 1),
        "dialer_cpu_ms_per_call": round(1000 * cpu / max(1, stats.placed), 2),
        "store_mb": round(size / 1e6, 1),
        "rss_mb_peak": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "simulated_hours_to_finish": round(simulated_h, 1),
        "funnel": result["funnel"],
        "attempts": result["attempts"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
