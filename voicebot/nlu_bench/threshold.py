"""Choose the FallbackClassifier threshold by measurement on labelled NLU data.

``cross_validated_threshold`` trains the pipeline k times (stratified folds), collects the
classifier's confidences on the held-out folds, and picks the threshold with
:func:`voicebot.nlu_bench.metrics.choose_threshold` (in-scope accuracy + OOS recall when the
data has ``out_of_scope`` examples, else accept/reject accuracy). The product's dialog can
use it on its own nlu/ data; ``voicebot bench threshold`` runs it from the command line.
"""

from __future__ import annotations

import random
import tempfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from voicebot.errors import DataError
from voicebot.nlu_bench.datasets import Example, _clean_label
from voicebot.nlu_bench.metrics import ThresholdChoice, choose_threshold
from voicebot.nlu_bench.runner import predict, train_model


def examples_from_rasa_nlu(path: Path) -> list[Example]:
    """Intent examples from Rasa NLU training data (a file or a folder of YAML files)."""
    from rasa.shared.nlu.training_data.loading import load_data

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: NLU data not found")
    try:
        td = load_data(str(path))
    except Exception as exc:  # Rasa raises many kinds here
        raise DataError(f"{path}: cannot read Rasa NLU data ({exc})") from exc
    out = [
        Example(
            m.get("text"),
            _clean_label(m.get("intent")),
            tuple(dict(x) for x in m.get("entities") or []),
        )
        for m in td.intent_examples
        if m.get("text") and m.get("intent")
    ]
    if not out:
        raise DataError(f"{path}: no intent examples")
    return out


def stratified_folds(examples: Sequence[Example], k: int, seed: int = 0) -> list[list[int]]:
    """Indices of ``k`` folds; each intent is dealt round-robin over the folds."""
    by: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(examples):
        by[e.intent].append(i)
    rng = random.Random(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    offset = 0
    for intent in sorted(by):
        idx = by[intent]
        rng.shuffle(idx)
        for j, i in enumerate(idx):
            folds[(j + offset) % k].append(i)
        offset += len(idx)
    return folds


def cross_validated_threshold(
    examples: Sequence[Example],
    config: dict[str, Any],
    folds: int = 3,
    seed: int = 0,
    criterion: str | None = None,
    log: Callable[[str], None] = print,
) -> ThresholdChoice:
    """Pick the fallback threshold from out-of-fold predictions of the pipeline."""
    if folds < 2:
        raise ValueError("need at least 2 folds")
    if len({e.intent for e in examples}) < 2:
        raise DataError("need examples of at least 2 intents to choose a threshold")
    parts = stratified_folds(examples, folds, seed)
    gold: list[str] = []
    top: list[str] = []
    conf: list[float] = []
    second: list[float] = []
    for f, held in enumerate(parts):
        held_set = set(held)
        train = [e for i, e in enumerate(examples) if i not in held_set]
        test = [examples[i] for i in held]
        if not test:
            continue
        log(f"fold {f + 1}/{folds}: training on {len(train)}, predicting {len(test)}")
        with tempfile.TemporaryDirectory(prefix="voicebot-cv-") as tmp:
            model, _ = train_model(config, train, Path(tmp))
            preds, _ = predict(model, [e.text for e in test], progress=False)
        gold += [e.intent for e in test]
        top += [p.raw_intent or "" for p in preds]
        conf += [p.raw_confidence for p in preds]
        second += [p.second_confidence for p in preds]
    return choose_threshold(gold, top, conf, second, criterion=criterion)
