"""Answering-machine detection accuracy on recordings that are not the bot's voice.

    python bench/amd_eval.py [--out bench/results/amd.json]

Builds the ``tuning`` and ``report`` sets of :mod:`voicebot.center.campaigns.amd_data`
(real 8 kHz speech from ../shared/eval plus espeak-ng voices for tuning, flite voices for
reporting; beeps of 1000 Hz for tuning, 440/850/1400/1800 Hz for reporting) and runs
:func:`voicebot.center.campaigns.amd.classify` on each. The thresholds were set looking at
the tuning set only; the report set's numbers are the ones to quote. Accuracy does not
depend on machine load; the decision time is seconds of callee audio, not wall time.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voicebot.center.campaigns.amd import AmdConfig, classify  # noqa: E402
from voicebot.center.campaigns.amd_data import build_set  # noqa: E402


def evaluate(which: str, eval_dir: Path) -> dict[str, object]:
    items = build_set(which, eval_dir)  # type: ignore[arg-type]
    confusion: collections.Counter[str] = collections.Counter()
    reasons: collections.Counter[str] = collections.Counter()
    decide_s: dict[str, list[float]] = {"person": [], "machine": []}
    wrong = []
    for item in items:
        result = classify(item.audio)
        confusion[f"{item.label}->{result.verdict}"] += 1
        reasons[f"{item.label}:{result.reason}"] += 1
        if result.verdict == item.label:
            decide_s[item.label].append(result.at_s)
        else:
            wrong.append({"item": item.name, "label": item.label, "reason": result.reason})
    correct = sum(v for k, v in confusion.items() if k.split("->")[0] == k.split("->")[1])
    people = [i for i in items if i.label == "person"]
    machines = [i for i in items if i.label == "machine"]
    return {
        "items": len(items),
        "people": len(people),
        "machines": len(machines),
        "accuracy": round(correct / len(items), 4),
        "person_recall": round(confusion["person->person"] / max(1, len(people)), 4),
        "machine_recall": round(confusion["machine->machine"] / max(1, len(machines)), 4),
        "confusion": dict(confusion),
        "reasons": dict(reasons),
        "mean_decision_s_of_audio": {
            k: round(sum(v) / len(v), 2) if v else None for k, v in decide_s.items()
        },
        "errors": wrong,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--eval-dir", type=Path, default=ROOT.parent / "shared" / "eval")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "amd.json")
    args = parser.parse_args()
    started = time.time()
    out = {
        "what": "answering-machine detection (voicebot/center/campaigns/amd.py)",
        "config": AmdConfig().__dict__,
        "tuning_set": evaluate("tuning", args.eval_dir),
        "report_set": evaluate("report", args.eval_dir),
        "note": "thresholds chosen on tuning_set only; quote report_set. Data: FSDD, Speech"
        " Commands and Asterisk core sounds from ../shared/eval (real people), espeak-ng"
        " (tuning) / flite (report) voices; none is the bot's Piper voice.",
        "wall_s": round(time.time() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    for which in ("tuning_set", "report_set"):
        r = out[which]
        assert isinstance(r, dict)
        print(
            f"{which}: {r['items']} items, accuracy {r['accuracy']:.3f}, person recall"
            f" {r['person_recall']:.3f}, machine recall {r['machine_recall']:.3f}"
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
