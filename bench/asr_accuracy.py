"""ASR accuracy and decode time per engine on real 8 kHz speech from ../shared/eval/audio.

    nice -n 10 python bench/asr_accuracy.py [--engine whisper|vosk] [--fsdd subset|all]
        [--window S] [--accounts N] [--out bench/results/asr_accuracy_whisper.json]

Sets (manifest.tsv):
* FSDD spoken digits (jackson, nicolas, yweweler; 8 kHz): digit accuracy in ``digits``
  mode. ``subset`` = the fixed stratified 20%: takes 0, 5, 10, ... 45 of every digit and
  speaker (300 files); ``all`` = 1500 files.
  Also: the same told the length (one digit), and the accuracy on the two thirds of the
  files that were not used to choose the digits prompt and window (take % 3 != 1).
* account numbers: N strings of 8 FSDD digits (fixed seed) joined with 0.3 s pauses,
  decoded in ``digits`` mode told the length 8 (what the product does; ``accounts``) and
  not told (``accounts_no_hint``): whole-string accuracy and digit accuracy.
* PINs: N strings of 4 FSDD digits decoded in ``free`` mode told the length 4 (the PIN
  question also takes a date of birth, so it is a free question).
* Asterisk IVR prompts (Allison Smith, 8 kHz, 266 spoken prompts): word error rate in
  ``free`` mode, after lowercasing, dropping punctuation and writing numerals as words.
Decode time is the time of ``finish()`` per utterance (the latency ASR adds to a turn).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import re
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voicebot.asr import AsrConfig, create_engine  # noqa: E402
from voicebot.asr.audio import resample_float  # noqa: E402
from voicebot.asr.config import asr_config  # noqa: E402
from voicebot.config import load_settings  # noqa: E402
from voicebot.errors import ModelError  # noqa: E402
from voicebot.numbers import spoken_digits  # noqa: E402

EVAL = Path(os.environ.get("VOICEBOT_EVAL_DIR") or ROOT.parent / "shared" / "eval")
DIGIT_NAMES = "zero one two three four five six seven eight nine".split()
_NUM = {str(i): w for i, w in enumerate(DIGIT_NAMES)}


def manifest() -> list[dict[str, str]]:
    with (EVAL / "audio" / "manifest.tsv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def load_pcm(rel: str, rate: int = 8000) -> np.ndarray:
    """int16 mono at ``rate`` Hz."""
    data, sr = sf.read(EVAL / rel, dtype="float32", always_2d=True)
    x = resample_float(data[:, 0], sr, rate)
    return np.clip(x * 32768.0, -32768, 32767).astype(np.int16)


_TEENS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORD = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
    "twenty": "twentieth",
    "thirty": "thirtieth",
    "forty": "fortieth",
    "fifty": "fiftieth",
    "sixty": "sixtieth",
    "seventy": "seventieth",
    "eighty": "eightieth",
    "ninety": "ninetieth",
}


def number_words(n: int) -> str:
    """0..999 as words ("sixteen", "one hundred five"); larger numbers digit by digit."""
    if n < 10:
        return DIGIT_NAMES[n]
    if n < 20:
        return _TEENS[n - 10]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + DIGIT_NAMES[n % 10])
    if n < 1000:
        rest = n % 100
        return DIGIT_NAMES[n // 100] + " hundred" + (" " + number_words(rest) if rest else "")
    return " ".join(DIGIT_NAMES[int(d)] for d in str(n))


def _say(match: re.Match[str]) -> str:
    words = number_words(int(match.group(1))).split()
    if match.group(2):  # ordinal: 15th -> fifteenth
        last = words[-1]
        words[-1] = _ORD.get(last, last + "th")
    return " " + " ".join(words) + " "


def words_for_wer(text: str) -> list[str]:
    """Lowercase words without punctuation; numerals written as words (both sides)."""
    text = text.lower().replace("-", " ").replace("'", "")
    text = re.sub(r"(\d+)(st|nd|rd|th)?", _say, text)
    return re.findall(r"[a-z]+", text)


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--engine", default=None, help="whisper or vosk (default: settings)")
    ap.add_argument("--fsdd", choices=["subset", "all"], default="subset")
    ap.add_argument("--accounts", type=int, default=40, help="8-digit strings to build")
    ap.add_argument("--prompts-limit", type=int, default=0, help="first N IVR prompts only")
    ap.add_argument("--window", type=float, default=None, help="whisper_window_s override")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    cfg: AsrConfig = asr_config(load_settings())
    if args.engine:
        cfg = replace(cfg, engine=args.engine)
    if args.window is not None:
        cfg = replace(cfg, whisper_window_s=args.window)
    t0 = time.perf_counter()
    out = args.out or ROOT / "bench" / "results" / f"asr_accuracy_{cfg.engine}.json"
    try:
        engine = create_engine(cfg)
    except ModelError as exc:  # e.g. no English Vosk model on this machine
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"engine": cfg.engine, "unavailable": str(exc)}, indent=2) + "\n")
        print(f"engine {cfg.engine} not measured: {exc}")
        return 2
    load_s = time.perf_counter() - t0
    rows = manifest()
    decode: dict[str, list[float]] = {"fsdd": [], "accounts": [], "prompts": []}

    # --- FSDD isolated digits
    fsdd = [r for r in rows if r["source"] == "fsdd"]
    if args.fsdd == "subset":
        fsdd = [r for r in fsdd if int(Path(r["path"]).stem.split("_")[-1]) % 5 == 0]
    ok = ok_hint = ok_fresh = ok_hint_fresh = fresh = 0
    confusions: dict[str, int] = {}
    hint_by_speaker: dict[str, list[bool]] = {}
    decode_hint: list[float] = []
    for r in tqdm(fsdd, desc="fsdd digits", unit="utt"):
        ref = str(DIGIT_NAMES.index(r["transcript"]))
        pcm = load_pcm(r["path"])
        tr = engine.transcribe(pcm, "digits")
        decode["fsdd"].append(tr.decode_s)
        ok += tr.text == ref
        told = engine.transcribe(pcm, "digits", length=1)
        decode_hint.append(told.decode_s)
        ok_hint += told.text == ref
        hint_by_speaker.setdefault(r["speaker"], []).append(told.text == ref)
        if int(Path(r["path"]).stem.split("_")[-1]) % 3 != 1:  # not in the tuning third
            fresh += 1
            ok_fresh += tr.text == ref
            ok_hint_fresh += told.text == ref
        if tr.text != ref:
            key = f"{ref}->{tr.text or '-'}"
            confusions[key] = confusions.get(key, 0) + 1
    digit_acc = ok / len(fsdd)

    # --- 8-digit account numbers from FSDD takes (a held-out speaker mix, fixed seed)
    rng = random.Random(8)
    by_digit: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        if r["source"] == "fsdd":
            by_digit.setdefault(str(DIGIT_NAMES.index(r["transcript"])), []).append(r)
    pause = np.zeros(int(0.3 * 8000), dtype=np.int16)

    def digit_string(n: int) -> tuple[str, np.ndarray]:
        speaker = rng.choice(["jackson", "nicolas", "yweweler"])
        ref = "".join(rng.choice("0123456789") for _ in range(n))
        parts = []
        for d in ref:
            choices = [r for r in by_digit[d] if r["speaker"] == speaker]
            parts += [load_pcm(rng.choice(choices)["path"]), pause]
        return ref, np.concatenate(parts)

    strings: dict[str, dict[str, int]] = {}
    for kind, n, expect, hint in (
        ("accounts_no_hint", 8, "digits", None),
        ("accounts", 8, "digits", 8),
        ("pins", 4, "free", 4),
    ):
        rng.seed(8 if n == 8 else 4)  # the same strings with and without the hint
        tally = strings.setdefault(kind, {"ok": 0, "digits": 0, "total": 0})
        for _ in tqdm(range(args.accounts), desc=kind.replace("_", " "), unit="utt"):
            ref, audio = digit_string(n)
            tr = engine.transcribe(audio, expect, length=hint)  # type: ignore[arg-type]
            heard = spoken_digits(tr.text)
            if kind == "accounts":
                decode["accounts"].append(tr.decode_s)
            tally["ok"] += heard == ref
            tally["total"] += n
            tally["digits"] += n - edit_distance(list(ref), list(heard))
    # --- IVR prompts WER
    prompts = [
        r
        for r in rows
        if r["source"] == "asterisk-core-sounds-en"
        and r["transcript_kind"].startswith("human")
        and not r["transcript"].startswith(("<", "["))
    ]
    if args.prompts_limit:
        prompts = prompts[: args.prompts_limit]
    errors = ref_words = 0
    worst: list[tuple[float, str, str]] = []
    for r in tqdm(prompts, desc="IVR prompts", unit="utt"):
        tr = engine.transcribe(load_pcm(r["path"]), "free")
        decode["prompts"].append(tr.decode_s)
        ref_w = words_for_wer(r["transcript"])
        hyp = words_for_wer(tr.text)
        e = edit_distance(ref_w, hyp)
        errors += e
        ref_words += len(ref_w)
        worst.append((e / max(1, len(ref_w)), r["transcript"], tr.text))
    wer = errors / max(1, ref_words)
    short = [
        t for t, r in zip(decode["prompts"], prompts, strict=True) if float(r["duration_s"]) <= 4
    ]

    result: dict[str, Any] = {
        "engine": cfg.engine,
        "settings": {k: v for k, v in cfg.__dict__.items() if k.startswith(cfg.engine)},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_1m": os.getloadavg()[0],
        },
        "model_load_s": round(load_s, 2),
        "fsdd": {
            "set": args.fsdd,
            "files": len(fsdd),
            "digit_accuracy": round(digit_acc, 4),
            "digit_accuracy_length_hint": round(ok_hint / len(fsdd), 4),
            "digit_accuracy_untuned_files": round(ok_fresh / max(1, fresh), 4),
            "digit_accuracy_length_hint_untuned_files": round(ok_hint_fresh / max(1, fresh), 4),
            "digit_accuracy_length_hint_by_speaker": {
                k: round(sum(v) / len(v), 4) for k, v in sorted(hint_by_speaker.items())
            },
            "decode_ms_length_hint_p50": round(pct(decode_hint, 50), 1),
            "decode_ms_length_hint_p95": round(pct(decode_hint, 95), 1),
            "untuned_files": fresh,
            "top_confusions": dict(sorted(confusions.items(), key=lambda kv: -kv[1])[:10]),
            "decode_ms_p50": round(pct(decode["fsdd"], 50), 1),
            "decode_ms_p95": round(pct(decode["fsdd"], 95), 1),
        },
        **{
            kind: {
                "strings": args.accounts,
                "string_accuracy": round(t["ok"] / max(1, args.accounts), 4),
                "digit_accuracy": round(t["digits"] / max(1, t["total"]), 4),
            }
            for kind, t in strings.items()
        },
        "ivr_prompts": {
            "files": len(prompts),
            "ref_words": ref_words,
            "wer": round(wer, 4),
            "decode_ms_p50": round(pct(decode["prompts"], 50), 1),
            "decode_ms_p95": round(pct(decode["prompts"], 95), 1),
            "decode_ms_p50_up_to_4s": round(pct(short, 50), 1),
            "decode_ms_p95_up_to_4s": round(pct(short, 95), 1),
            "worst": [
                {"ref": r, "hyp": h, "wer": round(w, 2)}
                for w, r, h in sorted(worst, reverse=True)[:8]
            ],
        },
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    result["accounts"] |= {
        "decode_ms_p50": round(pct(decode["accounts"], 50), 1),
        "decode_ms_p95": round(pct(decode["accounts"], 95), 1),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    f, a, p = result["fsdd"], result["accounts"], result["ivr_prompts"]
    print(f"engine {cfg.engine}  (load {load_s:.1f} s, peak RSS {result['peak_rss_mb']} MB)")
    print(
        f"FSDD digits ({args.fsdd}, {len(fsdd)} files): accuracy {f['digit_accuracy']:.1%} "
        f"(files not used for tuning: {f['digit_accuracy_untuned_files']:.1%}; told one digit: "
        f"{f['digit_accuracy_length_hint']:.1%}, on the files not used for tuning "
        f"{f['digit_accuracy_length_hint_untuned_files']:.1%}, by speaker "
        f"{f['digit_accuracy_length_hint_by_speaker']}, decode p50 "
        f"{f['decode_ms_length_hint_p50']:.0f} ms p95 {f['decode_ms_length_hint_p95']:.0f} ms)"
        f"  decode p50 {f['decode_ms_p50']:.0f} ms "
        f"p95 {f['decode_ms_p95']:.0f} ms"
    )
    for kind in ("accounts_no_hint", "pins"):
        print(
            f"{kind}: strings {result[kind]['string_accuracy']:.1%} "
            f"digits {result[kind]['digit_accuracy']:.1%}"
        )
    print(
        f"8-digit accounts ({args.accounts}): strings {a['string_accuracy']:.1%}  digits "
        f"{a['digit_accuracy']:.1%}  decode p50 {a['decode_ms_p50']:.0f} ms "
        f"p95 {a['decode_ms_p95']:.0f} ms"
    )
    print(
        f"IVR prompts ({len(prompts)} files, {ref_words} words): WER {wer:.1%}  decode p50 "
        f"{p['decode_ms_p50']:.0f} ms p95 {p['decode_ms_p95']:.0f} ms (<=4 s: p50 "
        f"{p['decode_ms_p50_up_to_4s']:.0f} ms p95 {p['decode_ms_p95_up_to_4s']:.0f} ms)"
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
