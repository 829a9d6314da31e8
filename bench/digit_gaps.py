#!/usr/bin/env python3
"""Account numbers and PINs read in groups: whole-string accuracy by pause between groups.

    nice -n 10 .venv/bin/python bench/digit_gaps.py [--set report|tune|both]
        [--accounts N] [--pins N] [--gaps 0.2,0.8,1.5,2.0,rand]
        [--out bench/results/digit_gaps.json]

People read an 8-digit account number or a 4-digit PIN in groups ("four seven two ... nine
one ... one eight three") and pause between the groups, often for 1-2 s. This bench builds
such strings from the real human FSDD recordings (../shared/eval/audio/fsdd, 8 kHz,
speakers jackson, nicolas, yweweler; read in place, never copied):

* accounts: 8 random digits read 3-2-3 or 4-4 (alternating), asked as ``digits`` told 8;
* PINs: 4 random digits read 2-2 or 1-1-1-1 (alternating), asked as ``free`` told 4 (the
  PIN question also takes a date of birth);
* inside a group the digit recordings follow each other with 0.12 s of silence; between
  groups the silence is exactly 0.2, 0.8, 1.5 or 2.0 s, or (``rand``) drawn for each pause
  from 0.2-2.0 s. The same strings (digits, speaker, takes) are used for every gap, so the
  columns differ only by the pauses.

Each string goes through the product's real hearing path on a virtual clock, as a call
does (:class:`voicebot.hearing.Hearing` with the configured Silero VAD and Whisper engine,
and the :class:`voicebot.turns.TurnTaker` turn machine, with the settings of
``voicebot.yml``): the question has just been asked, the caller starts 0.5 s later and then
stays silent for 6 s. A string counts as right when the FIRST caller turn holds exactly the
spoken digits (a turn that ends mid-number makes the bot answer "Sorry, I didn't get ..."
while the caller still speaks, so the string is lost). Also counted: strings cut in
several turns, and NoInput (reprompt) events fired before the first turn.

Data split (stated in the JSON): takes 0-49 of each digit; the *tuning* set uses even takes
only (strings seeded 1000+), the *reporting* set odd takes only (seeded 2000+). Only the
tuning set was looked at while choosing the incomplete timeout; the reporting set gives
the numbers reported.

Latency of complete numbers (strings whose first turn is right): endpoint = decision time
of the turn - end of the caller's last speech frame, on the virtual clock (deterministic);
asr = wall time of the decode that gave the final transcript (depends on machine load);
total = endpoint + asr. The dialog and TTS stages are not part of this bench
(bench/turn_latency.py measures the whole turn).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voicebot.asr import load_engine  # noqa: E402
from voicebot.asr.audio import resample_float  # noqa: E402
from voicebot.audio.vad import VadConfig  # noqa: E402
from voicebot.config import load_settings, section_to  # noqa: E402
from voicebot.events import ExpectedInput  # noqa: E402
from voicebot.numbers import spoken_digits  # noqa: E402
from voicebot.replay.cases import FSDD_DIR  # noqa: E402
from voicebot.replay.listen import listen  # noqa: E402
from voicebot.session_config import SessionConfig  # noqa: E402
from voicebot.stages import Recognizer  # noqa: E402
from voicebot.turns import TurnConfig  # noqa: E402

FSDD = FSDD_DIR / "recordings"
SPEAKERS = ("jackson", "nicolas", "yweweler")
RATE = 8000
LEAD_S = 0.512  # the caller starts this long after the question (on Silero's 32 ms grid)
TAIL_S = 6.0  # silence after the caller's last digit
IN_GROUP_S = 0.12  # silence between two digits of one group
GAPS = ("0.2", "0.8", "1.5", "2.0", "rand")
GROUPINGS = {8: ((3, 2, 3), (4, 4)), 4: ((2, 2), (1, 1, 1, 1))}
SETS = {"tune": (0, 1000), "report": (1, 2000)}  # take parity, seed base


@dataclass(frozen=True)
class DigitString:
    """One caller reading a number in groups (everything but the pauses between groups)."""

    kind: str  # accounts | pins
    digits: str
    speaker: str
    takes: tuple[int, ...]
    groups: tuple[int, ...]
    seed: int


_cache: dict[Path, np.ndarray] = {}


def load(path: Path) -> np.ndarray:
    """An FSDD recording as int16 at 8 kHz (cached in memory)."""
    if path not in _cache:
        data, sr = sf.read(path, dtype="float32", always_2d=True)
        x = resample_float(data[:, 0], sr, RATE)
        _cache[path] = np.clip(x * 32768.0, -32768, 32767).astype(np.int16)
    return _cache[path]


def make_strings(kind: str, n: int, parity: int, seed_base: int) -> list[DigitString]:
    length = 8 if kind == "accounts" else 4
    out = []
    for i in range(n):
        seed = seed_base + (0 if kind == "accounts" else 500) + i
        rng = random.Random(seed)
        digits = "".join(rng.choice("0123456789") for _ in range(length))
        speaker = SPEAKERS[i % len(SPEAKERS)]
        takes = tuple(rng.randrange(parity, 50, 2) for _ in digits)
        groups = GROUPINGS[length][i % 2]
        out.append(DigitString(kind, digits, speaker, takes, groups, seed))
    return out


def gaps_for(s: DigitString, gap: str) -> list[float]:
    """The pauses between the groups of ``s`` for the gap condition ``gap``, s."""
    count = len(s.groups) - 1
    if gap == "rand":
        rng = random.Random(s.seed * 7 + 1)
        return [round(rng.uniform(0.2, 2.0), 3) for _ in range(count)]
    return [float(gap)] * count


def audio_of(s: DigitString, gaps: list[float]) -> np.ndarray:
    parts: list[np.ndarray] = []
    pos = 0
    for g, size in enumerate(s.groups):
        for k in range(size):
            d, take = s.digits[pos], s.takes[pos]
            parts.append(load(FSDD / f"{d}_{s.speaker}_{take}.wav"))
            pos += 1
            if k < size - 1:
                parts.append(np.zeros(int(IN_GROUP_S * RATE), np.int16))
        if g < len(gaps):
            parts.append(np.zeros(int(gaps[g] * RATE), np.int16))
    return np.concatenate(parts)


async def hear_string(
    audio: np.ndarray,
    expect: ExpectedInput,
    length: int,
    recognizer: Recognizer,
    vad: VadConfig,
    turns_cfg: TurnConfig,
    session_cfg: SessionConfig,
) -> dict[str, Any]:
    """Play ``audio`` as the answer to a question that asked for ``length`` digits through
    Hearing + TurnTaker on a virtual clock (:func:`voicebot.replay.listen.listen`)."""
    heard = await listen(
        audio,
        expect,
        length,
        recognizer,
        vad=vad,
        turns=turns_cfg,
        session=session_cfg,
        rate=RATE,
        lead_s=LEAD_S,
        tail_s=TAIL_S,
    )
    first_turn_at = heard.turns[0].turn.time_s if heard.turns else float("inf")
    return {
        "turns": [
            {
                "text": t.turn.text,
                "digits": spoken_digits(t.turn.text),
                "confidence": round(t.turn.confidence, 3),
                "at_s": round(t.turn.time_s, 3),
                "endpoint_ms": t.endpoint_ms,
                "asr_ms": t.asr_ms,
                "early": t.early,
                "groups": t.groups,
            }
            for t in heard.turns
        ],
        "no_inputs": sum(at < first_turn_at for at in heard.no_inputs),
    }


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in rows if r["right"]]
    endpoint = [r["turns"][0]["endpoint_ms"] for r in ok]
    asr = [r["turns"][0]["asr_ms"] or 0.0 for r in ok]
    total = [e + a for e, a in zip(endpoint, asr, strict=True)]
    return {
        "strings": len(rows),
        "right": len(ok),
        "string_accuracy": round(len(ok) / max(1, len(rows)), 4),
        "cut_in_several_turns": sum(len(r["turns"]) > 1 for r in rows),
        "no_input_before_turn": sum(r["no_inputs"] > 0 for r in rows),
        "latency_complete_ms": {
            "endpoint_p50": pct(endpoint, 50),
            "endpoint_p95": pct(endpoint, 95),
            "asr_p50": pct(asr, 50),
            "asr_p95": pct(asr, 95),
            "total_p50": pct(total, 50),
            "total_p95": pct(total, 95),
        },
    }


def previous_numbers(path: Path) -> dict[str, Any] | None:
    """The summary numbers (no cases) of the run last written to ``path``, kept as "before"
    in the new result; None when there is none. A "before" the old file kept is not carried
    on (only the last run before this one)."""
    if not path.is_file():
        return None
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    sets = {
        name: {
            kind: {
                gap: {k: v for k, v in entry.items() if k != "cases"}
                for gap, entry in by_gap.items()
            }
            for kind, by_gap in kinds.items()
        }
        for name, kinds in old.get("sets", {}).items()
    }
    keep = ("session", "machine", "wall_s")
    return {**{k: old[k] for k in keep if k in old}, "sets": sets} if sets else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--set", choices=["tune", "report", "both"], default="both")
    ap.add_argument("--accounts", type=int, default=15, help="8-digit strings per set")
    ap.add_argument("--pins", type=int, default=15, help="4-digit strings per set")
    ap.add_argument("--gaps", default=",".join(GAPS), help="comma list of " + " ".join(GAPS))
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "digit_gaps.json")
    args = ap.parse_args()
    gaps = [g.strip() for g in args.gaps.split(",") if g.strip()]
    for g in gaps:
        if g != "rand":
            float(g)

    settings = load_settings()
    t0 = time.perf_counter()
    recognizer = load_engine(settings)
    load_s = time.perf_counter() - t0
    vad = section_to(VadConfig, settings, "vad")
    turns_cfg = section_to(TurnConfig, settings, "turns")
    session_cfg = section_to(SessionConfig, settings, "session")
    sets = ["tune", "report"] if args.set == "both" else [args.set]

    result: dict[str, Any] = {
        "what": "first caller turn == the spoken digits, FSDD strings read in groups",
        "split": {
            "tune": "even FSDD takes, strings seeded 1000+ (looked at while tuning)",
            "report": "odd FSDD takes, strings seeded 2000+ (not looked at while tuning)",
        },
        "groupings": {"accounts": "3-2-3 / 4-4", "pins": "2-2 / 1-1-1-1"},
        "in_group_pause_s": IN_GROUP_S,
        "session": {k: v for k, v in vars(session_cfg).items() if k.startswith("digits")},
        "vad": {"end_silence_ms": vad.end_silence_ms, "scorer": vad.scorer},
        "engine": getattr(recognizer, "name", "?"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_1m_start": round(os.getloadavg()[0], 2),
        },
        "model_load_s": round(load_s, 2),
        "sets": {},
    }
    jobs = []
    for name in sets:
        parity, seed_base = SETS[name]
        for kind, n in (("accounts", args.accounts), ("pins", args.pins)):
            for s in make_strings(kind, n, parity, seed_base):
                for gap in gaps:
                    jobs.append((name, gap, s))

    async def run_all() -> dict[tuple[str, str, str], list[dict[str, Any]]]:
        rows: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for name, gap, s in tqdm(jobs, desc="strings", unit="str"):
            pauses = gaps_for(s, gap)
            expect: ExpectedInput = "digits" if s.kind == "accounts" else "free"
            heard = await hear_string(
                audio_of(s, pauses),
                expect,
                len(s.digits),
                recognizer,
                vad,
                turns_cfg,
                session_cfg,
            )
            first = heard["turns"][0]["digits"] if heard["turns"] else ""
            rows.setdefault((name, s.kind, gap), []).append(
                {
                    "digits": s.digits,
                    "speaker": s.speaker,
                    "takes": list(s.takes),
                    "groups": "-".join(map(str, s.groups)),
                    "pauses_s": pauses,
                    "right": len(heard["turns"]) >= 1 and first == s.digits,
                    **heard,
                }
            )
        return rows

    started = time.perf_counter()
    rows = asyncio.run(run_all())
    for (name, kind, gap), items in rows.items():
        entry = result["sets"].setdefault(name, {}).setdefault(kind, {})
        entry[gap] = {**summarize(items), "cases": items}
    result["wall_s"] = round(time.perf_counter() - started, 1)
    result["machine"]["loadavg_1m_end"] = round(os.getloadavg()[0], 2)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    before = previous_numbers(args.out)
    if before:
        result["before"] = before
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    print(f"engine {result['engine']}, session {result['session']}")
    header = f"{'set':7}{'kind':10}" + "".join(
        f"{g + ' s' if g != 'rand' else 'rand':>16}" for g in gaps
    )
    print(header)
    for name in sets:
        for kind in ("accounts", "pins"):
            cells = []
            for gap in gaps:
                e = result["sets"][name][kind][gap]
                cells.append(
                    f"{e['right']:>3}/{e['strings']:<3} cut {e['cut_in_several_turns']:>2}"
                )
            print(f"{name:7}{kind:10}" + "".join(f"{c:>16}" for c in cells))
    for name in sets:
        for kind in ("accounts", "pins"):
            for gap in gaps:
                lat = result["sets"][name][kind][gap]["latency_complete_ms"]
                print(
                    f"latency {name} {kind} gap {gap}: endpoint p50 {lat['endpoint_p50']} "
                    f"p95 {lat['endpoint_p95']} ms, asr p50 {lat['asr_p50']} p95 "
                    f"{lat['asr_p95']} ms, total p50 {lat['total_p50']} p95 {lat['total_p95']} ms"
                )
    print(f"wrote {args.out} ({result['wall_s']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
