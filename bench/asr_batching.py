#!/usr/bin/env python3
"""Would batching Whisper decodes that arrive together help the speech service?

Runs CTranslate2's Whisper encoder and decoder (the engine's own model, 8 s window, free-text
prompt, greedy) on batches of 1, 2 and 4 copies of one caller utterance and prints the time
per utterance of each step (median of ``--repeat`` runs). Writes
``bench/results/asr_batching.json``. Usage: ``.venv/bin/python bench/asr_batching.py``.

``--workers`` instead compares how the speech service could spend the 2 cores on decodes
that arrive together: today's one model with 2 intra-op threads, decodes one at a time
(``whisper_threads 2``, the engine's lock), against 2 model replicas of 1 thread each
(CTranslate2 ``inter_threads`` 2, ``whisper_threads 1``) decoding two at a time. Each runs the
same ``--decodes`` caller utterances (tests/audio, free-text turns) through
``WhisperEngine.decode`` from ``--concurrency`` threads (the service's decode pool); it
reports decodes/s and the mean time in a decode (queue included), interleaved ``--repeat``
times, and checks every transcript is the same in both. Writes ``asr_workers.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def engine_with(threads: int, workers: int) -> Any:
    """A WhisperEngine whose model runs ``workers`` replicas of ``threads`` threads each;
    its lock lets ``workers`` decodes in at once (CTranslate2 is thread-safe)."""
    from faster_whisper import WhisperModel

    from voicebot.asr import load_engine
    from voicebot.config import load_settings

    engine = load_engine(load_settings())
    model = WhisperModel(
        str(engine.path), device="cpu", compute_type=engine.cfg.whisper_compute_type,
        cpu_threads=threads, num_workers=workers, local_files_only=True,
    )  # fmt: skip
    engine._model, engine._ct2 = model, model.model
    engine._lock = threading.BoundedSemaphore(workers)
    return engine


def workers_main(args: argparse.Namespace) -> int:
    from voicebot.asr.audio import resample_float, to_float

    files = sorted((ROOT / "tests" / "audio").glob("*/0[1-3].wav"))[: args.decodes]
    clips = []
    for path in files:
        audio, rate = sf.read(str(path), dtype="int16")
        clips.append(resample_float(to_float(audio), rate, 16000))
    setups = {"threads2_workers1": (2, 1), "threads1_workers2": (1, 2)}
    engines = {name: engine_with(*tw) for name, tw in setups.items()}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in setups}
    texts: dict[str, list[str]] = {}
    for name, engine in engines.items():  # warm-up, and the transcripts
        texts[name] = [engine.decode(c, "free")[0] for c in clips]
    for _ in range(args.repeat):
        for name, engine in engines.items():
            spent: list[float] = []

            def one(clip: np.ndarray, engine: Any = engine, spent: list = spent) -> str:
                t = time.perf_counter()
                text = str(engine.decode(clip, "free")[0])
                spent.append(time.perf_counter() - t)
                return text

            cpu0, t0 = time.process_time(), time.perf_counter()
            with ThreadPoolExecutor(args.concurrency) as pool:
                got = list(pool.map(one, clips))
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            assert got == texts[name], f"{name}: transcripts changed between runs"
            row = {
                "decodes_per_s": round(len(clips) / wall, 2),
                "decode_ms_mean": round(1000 * statistics.mean(spent), 1),
                "cpu_ms_per_decode": round(1000 * cpu / len(clips), 1),
            }
            runs[name].append(row)
            print(name, json.dumps(row), flush=True)
    same = texts["threads2_workers1"] == texts["threads1_workers2"]
    out = {
        "what": "Whisper tiny.en int8 decodes of concurrent requests: 1 model x 2 threads "
        "(one decode at a time) vs 2 replicas x 1 thread (two at a time); best of the "
        "interleaved repeats, and every repeat",
        "clips": len(clips),
        "concurrency": args.concurrency,
        "cpus": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "same_transcripts": same,
        "best": {n: max(r, key=lambda x: x["decodes_per_s"]) for n, r in runs.items()},
        "runs": runs,
    }
    print(json.dumps(out["best"]), "same transcripts:", same)
    args.out_workers.write_text(json.dumps(out, indent=2) + "\n")
    return 0


def main() -> int:
    import ctranslate2

    from voicebot.asr import load_engine
    from voicebot.asr.audio import resample_float, to_float
    from voicebot.config import load_settings

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "asr_batching.json")
    ap.add_argument("--workers", action="store_true", help="threads x workers comparison")
    ap.add_argument("--decodes", type=int, default=24)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument(
        "--out-workers", type=Path, default=ROOT / "bench" / "results" / "asr_workers.json"
    )
    args = ap.parse_args()
    if args.workers:
        return workers_main(args)
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
