#!/usr/bin/env python3
"""Would batching Whisper decodes that arrive together help the speech service?

Runs CTranslate2's Whisper encoder and decoder (the engine's own model, 8 s window, free-text
prompt, greedy) on batches of 1, 2 and 4 copies of one caller utterance and prints the time
per utterance of each step (median of ``--repeat`` runs). Writes
``bench/results/asr_batching.json``. Usage: ``.venv/bin/python bench/asr_batching.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    import ctranslate2

    from voicebot.asr import load_engine
    from voicebot.asr.audio import resample_float, to_float
    from voicebot.config import load_settings

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "asr_batching.json")
    args = ap.parse_args()
    engine = load_engine(load_settings())
    audio, rate = sf.read(str(ROOT / "tests/audio/silence_then_request/02.wav"), dtype="int16")
    feats = engine.features(resample_float(to_float(audio), rate, 16000), 8.0)  # type: ignore[attr-defined]
    prompt = engine._prompts["free"]  # type: ignore[attr-defined]
    model = engine._ct2  # type: ignore[attr-defined]
    rows = []
    for batch in (1, 2, 4):
        enc_s, gen_s = [], []
        for _ in range(args.repeat + 1):
            t = time.perf_counter()
            encoded = model.encode(ctranslate2.StorageView.from_array(np.stack([feats] * batch)))
            enc_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            model.generate(
                encoded, [prompt] * batch, beam_size=1, max_length=len(prompt) + 30,
                return_scores=True, return_no_speech_prob=True, return_logits_vocab=True,
                suppress_blank=True,
            )  # fmt: skip
            gen_s.append(time.perf_counter() - t)
        row = {
            "batch": batch,
            "encode_ms_per_utterance": round(statistics.median(enc_s[1:]) * 1000 / batch, 1),
            "generate_ms_per_utterance": round(statistics.median(gen_s[1:]) * 1000 / batch, 1),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = {
        "what": "Whisper tiny.en int8 (CTranslate2) encoder and greedy decoder, time per "
        "utterance when N identical 8 s windows are run as one batch",
        "threads": engine.cfg.whisper_threads,  # type: ignore[attr-defined]
        "cpus": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
