"""``voicebot bench``: measure voicebot on third-party data.

voicebot bench nlu --dataset clinc150|banking77|hwu64 [--limit N] [--config PATH]
voicebot bench threshold [--nlu PATH] [--config PATH] [--folds K]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

HELP = "benchmark the NLU pipeline on real intent data (CLINC150, Banking77, HWU64)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench_target", metavar="TARGET", required=True)
    nlu = sub.add_parser(
        "nlu",
        help="train the NLU pipeline on a dataset and evaluate it on its validation data",
    )
    nlu.add_argument("--dataset", required=True, choices=["clinc150", "banking77", "hwu64"])
    nlu.add_argument(
        "--limit",
        type=int,
        default=None,
        metavar="N",
        help="quick slice: the first N intents, N training examples each",
    )
    nlu.add_argument(
        "--config",
        dest="pipeline_config",
        type=Path,
        default=None,
        metavar="PATH",
        help="Rasa config with the pipeline to measure (default: dialogs/config.yml)",
    )
    nlu.add_argument("--epochs", type=int, default=None, help="override epochs (DIET etc.)")
    nlu.add_argument(
        "--out", type=Path, default=None, help="results folder (default: bench/results)"
    )
    nlu.add_argument("--tag", default=None, help="file name stem of the results")
    nlu.add_argument("--data-dir", type=Path, default=None, help="folder with the datasets")
    nlu.add_argument("--no-progress", action="store_true")

    thr = sub.add_parser(
        "threshold",
        help="choose the fallback threshold by cross-validation on Rasa NLU data",
    )
    thr.add_argument("--nlu", type=Path, default=None, help="NLU data (default: nlu/)")
    thr.add_argument("--config", dest="pipeline_config", type=Path, default=None)
    thr.add_argument("--folds", type=int, default=3)
    thr.add_argument("--out", type=Path, default=None, help="write the choice as JSON here")


def _run_nlu(args: argparse.Namespace) -> int:
    from voicebot.nlu_bench.datasets import limit_dataset, load_dataset
    from voicebot.nlu_bench.runner import (
        default_config_path,
        format_summary,
        load_pipeline_config,
        override_epochs,
        run_benchmark,
    )
    from voicebot.paths import project_root

    cfg_path = args.pipeline_config or default_config_path()
    config = override_epochs(load_pipeline_config(cfg_path), args.epochs)
    ds = load_dataset(args.dataset, args.data_dir)
    ds = limit_dataset(ds, args.limit)
    tag = args.tag or (f"{ds.name}-limit{args.limit}" if args.limit else ds.name)
    out = args.out or project_root() / "bench" / "results"
    results = run_benchmark(ds, config, cfg_path, out, tag=tag, progress=not args.no_progress)
    print(format_summary(results))
    return 0


def _run_threshold(args: argparse.Namespace) -> int:
    from voicebot.nlu_bench.runner import default_config_path, load_pipeline_config
    from voicebot.nlu_bench.threshold import cross_validated_threshold, examples_from_rasa_nlu
    from voicebot.paths import nlu_dir

    cfg_path = args.pipeline_config or default_config_path()
    config = load_pipeline_config(cfg_path)
    examples = examples_from_rasa_nlu(args.nlu or nlu_dir())
    t0 = time.perf_counter()
    choice = cross_validated_threshold(examples, config, folds=args.folds)
    m = choice.metrics
    print(
        f"fallback threshold {choice.threshold:.2f} (ambiguity {choice.ambiguity_threshold}) "
        f"by {choice.criterion} = {choice.score:.4f} on {len(examples)} examples, "
        f"{args.folds}-fold cross-validation ({time.perf_counter() - t0:.0f} s); "
        f"accuracy {m['accuracy']:.4f}, fallback rate {m['fallback_rate']:.4f}"
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(choice.as_dict(), indent=1) + "\n")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.bench_target == "nlu":
        return _run_nlu(args)
    return _run_threshold(args)
