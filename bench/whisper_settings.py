"""Which Whisper setting costs accuracy on short general speech: each changed alone.

    nice -n 10 python bench/whisper_settings.py [--variants product,window30,...]
        [--out bench/results/whisper_settings.json]

Data: the Asterisk IVR prompts (Allison Smith, 8 kHz, the 264 spoken prompts with a human
transcript in ../shared/eval/audio/manifest.tsv), decoded in ``free`` mode. The files are
sorted by name and split by parity: even positions are the **tuning half** (the only half
looked at when a setting was chosen), odd positions the **reporting half**. WER is given on
each half and on all files, after lowercasing, dropping punctuation and writing numerals as
words (``bench/asr_accuracy.words_for_wer``).

Variants: ``old_product`` (voicebot.yml without ``whisper_repeat_recheck``), then one setting
changed alone from it (window 30 s, pad 0, lead 0, no domain prompt, no-speech drop off or
stricter), ``product`` (voicebot.yml: the re-check in Whisper's own window), and ``bare``:
faster-whisper's own ``transcribe`` with its default decoding (beam 5, timestamps,
temperature fallback) on the same model, the reference the issue compares with.
``doubled`` counts transcripts with a word said twice in a row where the reference has no
such repeat ("six. six", "Yangi. Yangi").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from asr_accuracy import edit_distance, load_pcm, manifest, words_for_wer  # noqa: E402

from voicebot.asr import AsrConfig  # noqa: E402
from voicebot.asr.config import asr_config  # noqa: E402
from voicebot.asr.normalize import doubled_word  # noqa: E402
from voicebot.asr.whisper import WhisperEngine  # noqa: E402
from voicebot.config import load_settings  # noqa: E402

OLD = {"whisper_repeat_recheck": False}
"""The product before the repeat re-check: each setting below is changed alone from it."""
VARIANTS: dict[str, dict[str, Any]] = {
    "old_product": OLD,
    "pad_0s": {**OLD, "whisper_pad_s": 0.0},
    "lead_0s": {**OLD, "whisper_lead_s": 0.0},
    "no_prompt": {**OLD, "whisper_prompt": ""},
    "no_speech_off": {**OLD, "whisper_no_speech": 1.0},
    "no_speech_0.3": {**OLD, "whisper_no_speech": 0.3},
    "product": {},
    "product_no_prompt": {"whisper_prompt": ""},
    "product_window_15s": {"whisper_window_s": 15.0},
    "window_30s": {**OLD, "whisper_window_s": 30.0},
}


def prompts() -> list[dict[str, str]]:
    rows = [
        r
        for r in manifest()
        if r["source"] == "asterisk-core-sounds-en"
        and r["transcript_kind"].startswith("human")
        and not r["transcript"].startswith(("<", "["))
    ]
    return sorted(rows, key=lambda r: Path(r["path"]).name)


def twice(text: str) -> bool:
    """The transcript says a word twice in a row (compared case- and punctuation-blind)."""
    return doubled_word(text.split()) is not None


def score(rows: list[dict[str, str]], hyps: list[str]) -> dict[str, Any]:
    """WER and doubled-word count over the tuning half, the reporting half and all."""
    out: dict[str, Any] = {}
    for name, keep in (("tuning", 0), ("reporting", 1), ("all", None)):
        errors = words = doubled = 0
        for i, (r, h) in enumerate(zip(rows, hyps, strict=True)):
            if keep is not None and i % 2 != keep:
                continue
            ref, hyp = words_for_wer(r["transcript"]), words_for_wer(h)
            errors += edit_distance(ref, hyp)
            words += len(ref)
            doubled += twice(h) and not twice(r["transcript"])
        out[name] = {
            "wer": round(errors / max(1, words), 4),
            "ref_words": words,
            "doubled": doubled,
        }
    return out


def run_engine(cfg: AsrConfig, rows: list[dict[str, str]], label: str) -> tuple[list[str], float]:
    engine = WhisperEngine(cfg)
    hyps, times = [], []
    for r in tqdm(rows, desc=label, unit="utt", leave=False):
        tr = engine.transcribe(load_pcm(r["path"]), "free")
        hyps.append(tr.text)
        times.append(tr.decode_s)
    return hyps, float(np.percentile(times, 50)) * 1000


def run_bare(cfg: AsrConfig, rows: list[dict[str, str]]) -> tuple[list[str], float]:
    """faster-whisper's transcribe() with its defaults (30 s window, beam 5, timestamps)."""
    from faster_whisper import WhisperModel

    from voicebot.asr.audio import resample_float
    from voicebot.models_registry import whisper_model_path

    model = WhisperModel(
        str(whisper_model_path(cfg.whisper_model)),
        device="cpu",
        compute_type=cfg.whisper_compute_type,
        cpu_threads=cfg.whisper_threads,
        local_files_only=True,
    )
    hyps, times = [], []
    for r in tqdm(rows, desc="bare", unit="utt", leave=False):
        audio = resample_float(load_pcm(r["path"]).astype(np.float32) / 32768.0, 8000, 16000)
        t0 = time.perf_counter()
        segments, _ = model.transcribe(audio, language="en")
        hyps.append(" ".join(s.text.strip() for s in segments))
        times.append(time.perf_counter() - t0)
    return hyps, float(np.percentile(times, 50)) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--variants", default=",".join([*VARIANTS, "bare"]))
    ap.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "whisper_settings.json"
    )
    args = ap.parse_args()
    base = asr_config(load_settings())
    rows = prompts()
    result: dict[str, Any] = {
        "data": "asterisk core sounds (en), human prompt transcripts; tuning = even positions "
        "of the files sorted by name, reporting = odd positions",
        "files": len(rows),
        "loadavg_1m": os.getloadavg()[0],
        "product_settings": {k: v for k, v in base.__dict__.items() if k.startswith("whisper")},
        "variants": {},
    }
    for name in args.variants.split(","):
        if name == "bare":
            hyps, p50 = run_bare(base, rows)
            change: dict[str, Any] = {"faster_whisper.transcribe": "defaults"}
        else:
            change = VARIANTS[name]
            hyps, p50 = run_engine(replace(base, **change), rows, name)
        scores = score(rows, hyps)
        examples = [
            {"ref": r["transcript"], "hyp": h}
            for r, h in zip(rows, hyps, strict=True)
            if twice(h) and not twice(r["transcript"])
        ]
        result["variants"][name] = {
            "change": change,
            **scores,
            "decode_ms_p50": round(p50, 1),
            "doubled_examples": examples[:12],
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        s = scores
        print(
            f"{name:16s} WER all {s['all']['wer']:.1%}  tuning {s['tuning']['wer']:.1%}  "
            f"reporting {s['reporting']['wer']:.1%}  doubled {s['all']['doubled']:3d}  "
            f"decode p50 {p50:.0f} ms",
            flush=True,
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
