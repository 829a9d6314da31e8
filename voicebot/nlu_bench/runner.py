"""Train voicebot's Rasa NLU pipeline on a dataset, evaluate it, and write the results.

The pipeline is read from the product's ``dialogs/config.yml`` (``language`` and
``pipeline``; the dialog policies are not needed) unless another file is given, so the
benchmark measures the same components and settings the bot answers calls with.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voicebot.errors import ConfigError, DataError
from voicebot.nlu_bench.datasets import Dataset, Example
from voicebot.nlu_bench.metrics import (
    FALLBACK,
    choose_threshold,
    confused_pairs,
    intent_metrics,
)
from voicebot.paths import dialogs_dir, project_root

logger = logging.getLogger(__name__)

FALLBACK_COMPONENT = "FallbackClassifier"


def default_config_path() -> Path:
    return dialogs_dir() / "config.yml"


def load_pipeline_config(path: Path | None = None) -> dict[str, Any]:
    """``{"language", "pipeline", "assistant_id"}`` from a Rasa config file."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    path = Path(path) if path else default_config_path()
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{path}: pipeline config not found", hint="give one with --config PATH"
        ) from exc
    except YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("pipeline"), list)
        or not data["pipeline"]
    ):
        raise ConfigError(f"{path}: no 'pipeline' list in this Rasa config")
    for n, comp in enumerate(data["pipeline"]):
        if not isinstance(comp, dict) or "name" not in comp:
            raise ConfigError(f"{path}: pipeline item {n} has no 'name'")
    return {
        "recipe": "default.v1",
        "assistant_id": data.get("assistant_id", "voicebot-nlu-bench"),
        "language": data.get("language", "en"),
        "pipeline": data["pipeline"],
        "policies": [],
    }


def override_epochs(config: dict[str, Any], epochs: int | None) -> dict[str, Any]:
    """A copy of ``config`` with ``epochs`` set on every component that has epochs
    (DIET, ResponseSelector...) or is known to train by epochs."""
    cfg = copy.deepcopy(config)
    if epochs is None:
        return cfg
    for comp in cfg["pipeline"]:
        if "epochs" in comp or comp["name"] in ("DIETClassifier", "ResponseSelector"):
            comp["epochs"] = int(epochs)
    return cfg


def fallback_settings(config: dict[str, Any]) -> tuple[float | None, float | None]:
    for comp in config["pipeline"]:
        if comp["name"] == FALLBACK_COMPONENT:
            return float(comp.get("threshold", 0.3)), float(comp.get("ambiguity_threshold", 0.1))
    return None, None


def write_nlu_yaml(examples: Sequence[Example], path: Path) -> None:
    """Rasa 3 YAML training data, written by Rasa's own writer (quoting handled there)."""
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLWriter
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    msgs = [
        Message.build(text=e.text, intent=e.intent, entities=[dict(x) for x in e.entities])
        for e in examples
    ]
    RasaYAMLWriter().dump(path, TrainingData(training_examples=msgs))


def _quiet_rasa() -> None:
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for name in ("rasa", "tensorflow", "absl", "matplotlib"):
        logging.getLogger(name).setLevel(logging.WARNING)
    with contextlib.suppress(Exception):  # Rasa's structlog events default to debug level
        import structlog

        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


CPU_MS: list[float] = []  # CPU milliseconds of each utterance of the last predict call
LAST_TRAIN_CPU_SECONDS = [0.0]  # CPU seconds (all threads) of the last train_model call


def train_model(
    config: dict[str, Any], examples: Sequence[Example], workdir: Path
) -> tuple[Path, float]:
    """Train an NLU-only Rasa model; returns (model archive, wall seconds)."""
    import rasa.shared.utils.io
    from rasa.model_training import train_nlu

    if len({e.intent for e in examples}) < 2:
        raise DataError("need training examples of at least 2 intents")
    _quiet_rasa()
    workdir.mkdir(parents=True, exist_ok=True)
    cfg_path, nlu_path = workdir / "config.yml", workdir / "nlu.yml"
    rasa.shared.utils.io.write_yaml(config, cfg_path)
    write_nlu_yaml(examples, nlu_path)
    # No training cache: each benchmark run trains from scratch and leaves nothing behind.
    os.environ["RASA_MAX_CACHE_SIZE"] = "0"
    os.environ.setdefault("RASA_CACHE_DIRECTORY", str(workdir / "cache"))
    t0, c0 = time.perf_counter(), time.process_time()
    model = train_nlu(str(cfg_path), str(nlu_path), str(workdir / "models"), fixed_model_name="nlu")
    seconds = time.perf_counter() - t0
    LAST_TRAIN_CPU_SECONDS[0] = time.process_time() - c0
    if not model:
        raise DataError("Rasa did not produce a model; see the messages above")
    return Path(model), seconds


@dataclass
class Prediction:
    intent: str | None  # after the pipeline's fallback, as the bot would act
    raw_intent: str | None  # the classifier's top intent before fallback
    raw_confidence: float
    second_confidence: float
    latency_ms: float


def _raw_top(parsed: dict[str, Any]) -> tuple[str | None, float, float]:
    ranking = [r for r in parsed.get("intent_ranking") or [] if r.get("name") != FALLBACK]
    if not ranking:
        it = parsed.get("intent") or {}
        return it.get("name"), float(it.get("confidence") or 0.0), 0.0
    ranking.sort(key=lambda r: -float(r.get("confidence") or 0.0))
    second = float(ranking[1]["confidence"]) if len(ranking) > 1 else 0.0
    return ranking[0]["name"], float(ranking[0]["confidence"]), second


def predict(
    model_path: Path, texts: Sequence[str], progress: bool = True
) -> tuple[list[Prediction], float]:
    """Parse each text alone through the loaded model (as on a call); returns the
    predictions and the model load time in seconds."""
    from rasa.core.agent import Agent

    _quiet_rasa()
    t0 = time.perf_counter()
    agent = Agent.load(str(model_path))
    load_s = time.perf_counter() - t0
    loop = asyncio.new_event_loop()
    out = []
    CPU_MS.clear()
    try:
        if texts:  # warm-up: first-call costs (graph, lazy imports) are not a turn's latency
            loop.run_until_complete(agent.parse_message(texts[0]))
        it: Any = texts
        if progress:
            from tqdm import tqdm

            it = tqdm(texts, desc="evaluating", unit="utt", file=sys.stderr, mininterval=2)
        for text in it:
            t, c = time.perf_counter(), time.process_time()
            parsed = loop.run_until_complete(agent.parse_message(text))
            ms = (time.perf_counter() - t) * 1000
            CPU_MS.append((time.process_time() - c) * 1000)
            name, conf, second = _raw_top(parsed)
            out.append(Prediction((parsed.get("intent") or {}).get("name"), name, conf, second, ms))
    finally:
        loop.close()
    return out, load_s


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _git_commit() -> str | None:
    with contextlib.suppress(Exception):
        return (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                cwd=project_root(),
                capture_output=True,
                text=True,
                timeout=5,
            ).stdout.strip()
            or None
        )
    return None


def run_benchmark(
    dataset: Dataset,
    config: dict[str, Any],
    config_path: Path,
    out_dir: Path,
    tag: str | None = None,
    workdir: Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train on ``dataset.train``, evaluate on ``dataset.eval``, write
    ``<out_dir>/<tag>.json`` and ``<tag>.png``; returns the results."""
    tag = tag or dataset.name
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="voicebot-bench-") as tmp:
        work = workdir or Path(tmp)
        log(
            f"training on {len(dataset.train)} examples, "
            f"{len({e.intent for e in dataset.train})} intents ({config_path})"
        )
        model, train_s = train_model(config, dataset.train, work)
        rss_train = peak_rss_mb()
        log(f"trained in {train_s:.1f} s; evaluating {len(dataset.eval)} utterances")
        preds, load_s = predict(model, [e.text for e in dataset.eval], progress)
    gold = [e.intent for e in dataset.eval]
    acted = [p.intent for p in preds]
    metrics = intent_metrics(gold, acted)
    lat = np.array([p.latency_ms for p in preds]) if preds else np.zeros(1)
    threshold, ambiguity = fallback_settings(config)
    raw = [p.raw_intent or "" for p in preds]
    conf = [p.raw_confidence for p in preds]
    second = [p.second_confidence for p in preds]
    sweep = choose_threshold(gold, raw, conf, second)
    sweep_balanced = (
        choose_threshold(gold, raw, conf, second, criterion="in_scope_acc+oos_recall")
        if metrics["oos_n"]
        else None
    )
    sweep_amb = choose_threshold(
        gold,
        raw,
        conf,
        second,
        criterion=sweep.criterion,
        ambiguities=(0.0, 0.02, 0.05, 0.1),
    )
    results: dict[str, Any] = {
        "dataset": dataset.name,
        "eval_split": dataset.eval_split,
        "n_train": len(dataset.train),
        "n_eval": len(dataset.eval),
        "n_intents": len({e.intent for e in dataset.train}),
        "config_path": str(config_path),
        "pipeline": config["pipeline"],
        "fallback_threshold": threshold,
        "ambiguity_threshold": ambiguity,
        "metrics": metrics,
        "metrics_without_fallback": intent_metrics(gold, raw),
        "train_seconds": round(train_s, 2),
        "train_cpu_seconds": round(LAST_TRAIN_CPU_SECONDS[0], 2),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "model_load_seconds": round(load_s, 2),
        "latency_ms": {
            "p50": round(float(np.percentile(lat, 50)), 2),
            "p95": round(float(np.percentile(lat, 95)), 2),
            "mean": round(float(lat.mean()), 2),
            "max": round(float(lat.max()), 2),
            "note": "wall clock per utterance, one at a time through Agent.parse_message; "
            "inflated when the machine is busy (see load_average_1min_at_end)",
        },
        "cpu_ms_per_utterance": {
            "p50": round(float(np.percentile(CPU_MS, 50)), 2) if CPU_MS else None,
            "p95": round(float(np.percentile(CPU_MS, 95)), 2) if CPU_MS else None,
        },
        "peak_rss_mb": {"after_training": round(rss_train, 1), "end": round(peak_rss_mb(), 1)},
        "threshold_sweep": {
            "note": "chosen on this evaluation set (validation data), FallbackClassifier "
            "semantics applied to the classifier's own confidences",
            "best": {k: v for k, v in sweep.as_dict().items() if k != "curve"},
            "best_with_ambiguity": {k: v for k, v in sweep_amb.as_dict().items() if k != "curve"},
            "best_in_scope_acc+oos_recall": (
                {k: v for k, v in sweep_balanced.as_dict().items() if k != "curve"}
                if sweep_balanced
                else None
            ),
            "curve": sweep.curve,
        },
        "top_confusions": [
            {"gold": a, "predicted": b, "count": k} for a, b, k in confused_pairs(gold, acted, 25)
        ],
        "environment": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "git_commit": _git_commit(),
            "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    }
    json_path = out_dir / f"{tag}.json"
    json_path.write_text(json.dumps(results, indent=1, sort_keys=False) + "\n")
    png_path = out_dir / f"{tag}.png"
    from voicebot.nlu_bench.plots import plot_results

    plot_results(gold, acted, results, png_path)
    results["files"] = {"json": str(json_path), "png": str(png_path)}
    return results


def format_summary(r: dict[str, Any]) -> str:
    m = r["metrics"]

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.2f}%"

    lines = [
        f"dataset {r['dataset']} ({r['eval_split']}): {r['n_train']} train, "
        f"{r['n_eval']} eval, {r['n_intents']} intents",
        f"  accuracy {pct(m['accuracy'])}   macro-F1 {pct(m['macro_f1'])}",
    ]
    if m["oos_n"]:
        lines.append(
            f"  in-scope accuracy {pct(m['in_scope_accuracy'])}   OOS recall "
            f"{pct(m['oos_recall'])}   OOS precision {pct(m['oos_precision'])}"
        )
    lines.append(f"  in-scope sent to fallback {pct(m['in_scope_fallback_rate'])}")
    b = r["threshold_sweep"]["best"]
    lines += [
        f"  fallback threshold in config {r['fallback_threshold']}; best on this set "
        f"{b['threshold']:.2f} by {b['criterion']} (score {b['score']:.4f})",
        f"  training {r['train_seconds']:.1f} s ({r.get('train_cpu_seconds', 0):.0f} s CPU)"
        f"   latency p50 {r['latency_ms']['p50']} ms "
        f"p95 {r['latency_ms']['p95']} ms   peak RSS {r['peak_rss_mb']['end']:.0f} MB",
        f"  results: {r['files']['json']}  plot: {r['files']['png']}",
    ]
    return "\n".join(lines)
