"""Intent metrics with out-of-scope handling, and the fallback-threshold sweep.

A prediction counts as out-of-scope (OOS) when it is the fallback intent ``nlu_fallback``
or the ``out_of_scope`` intent; a gold label counts as OOS when it is ``out_of_scope``.
All OOS predictions are folded into one class, so "answered by the fallback" is right for
an out-of-scope utterance and wrong for an in-scope one (as on a call: the caller is routed
to a human).

Definitions (Larson et al. 2019, CLINC150):
- in-scope accuracy: in-scope utterances given their correct intent / in-scope utterances
- OOS recall: OOS utterances predicted OOS / OOS utterances
- OOS precision: OOS utterances predicted OOS / utterances predicted OOS
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

OOS = "out_of_scope"
FALLBACK = "nlu_fallback"
OOS_NAMES = frozenset({OOS, FALLBACK, "oos"})


def fold_oos(label: str | None) -> str:
    return OOS if (label is None or label in OOS_NAMES) else label


def _safe_div(a: float, b: float) -> float | None:
    return a / b if b else None


def intent_metrics(gold: Sequence[str], pred: Sequence[str | None]) -> dict:
    """Accuracy, macro-F1 (over the gold classes, OOS folded to one class), and the
    in-scope / OOS figures. Values are fractions in [0, 1]; a ratio with an empty
    denominator is ``None``."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold labels but {len(pred)} predictions")
    g = [fold_oos(x) for x in gold]
    p = [fold_oos(x) for x in pred]
    n = len(g)
    correct = sum(a == b for a, b in zip(g, p, strict=True))
    in_idx = [i for i in range(n) if g[i] != OOS]
    oos_idx = [i for i in range(n) if g[i] == OOS]
    pred_oos = [i for i in range(n) if p[i] == OOS]
    tp_oos = sum(1 for i in oos_idx if p[i] == OOS)
    f1s = []
    for c in sorted(set(g)):
        tp = sum(1 for a, b in zip(g, p, strict=True) if a == c and b == c)
        fp = sum(1 for a, b in zip(g, p, strict=True) if a != c and b == c)
        fn = sum(1 for a, b in zip(g, p, strict=True) if a == c and b != c)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return {
        "n": n,
        "accuracy": _safe_div(correct, n),
        "macro_f1": float(np.mean(f1s)) if f1s else None,
        "in_scope_n": len(in_idx),
        "in_scope_accuracy": _safe_div(sum(1 for i in in_idx if p[i] == g[i]), len(in_idx)),
        "in_scope_fallback_rate": _safe_div(sum(1 for i in in_idx if p[i] == OOS), len(in_idx)),
        "oos_n": len(oos_idx),
        "oos_recall": _safe_div(tp_oos, len(oos_idx)),
        "oos_precision": _safe_div(tp_oos, len(pred_oos)),
    }


def confused_pairs(
    gold: Sequence[str], pred: Sequence[str | None], top: int = 20
) -> list[tuple[str, str, int]]:
    """The most frequent (gold, predicted) mistakes, OOS folded."""
    c = Counter(
        (fold_oos(a), fold_oos(b))
        for a, b in zip(gold, pred, strict=True)
        if fold_oos(a) != fold_oos(b)
    )
    return [(a, b, k) for (a, b), k in c.most_common(top)]


def apply_fallback(
    top_intent: Sequence[str],
    top_conf: Sequence[float],
    threshold: float,
    second_conf: Sequence[float] | None = None,
    ambiguity: float = 0.0,
) -> list[str]:
    """What Rasa's FallbackClassifier does: fallback when the top confidence is below
    ``threshold`` or (when ``ambiguity`` > 0) top minus second is below ``ambiguity``."""
    out = []
    for i, (name, c) in enumerate(zip(top_intent, top_conf, strict=True)):
        low = c < threshold
        amb = ambiguity > 0 and second_conf is not None and (c - second_conf[i]) < ambiguity
        out.append(FALLBACK if (low or amb) else name)
    return out


@dataclass
class ThresholdChoice:
    threshold: float
    ambiguity_threshold: float
    criterion: str
    score: float
    metrics: dict
    curve: list[dict]

    def as_dict(self) -> dict:
        return {
            "threshold": self.threshold,
            "ambiguity_threshold": self.ambiguity_threshold,
            "criterion": self.criterion,
            "score": self.score,
            "metrics": self.metrics,
            "curve": self.curve,
        }


def criterion_score(m: dict, criterion: str) -> float:
    if criterion == "in_scope_acc+oos_recall":
        return (m["in_scope_accuracy"] or 0.0) + (m["oos_recall"] or 0.0)
    if criterion == "accept_reject_accuracy":
        return m["accept_reject_accuracy"]
    if criterion == "accuracy":
        return m["accuracy"] or 0.0
    raise ValueError(f"unknown criterion {criterion!r}")


def choose_threshold(
    gold: Sequence[str],
    top_intent: Sequence[str],
    top_conf: Sequence[float],
    second_conf: Sequence[float] | None = None,
    criterion: str | None = None,
    thresholds: Sequence[float] | None = None,
    ambiguities: Sequence[float] = (0.0,),
) -> ThresholdChoice:
    """Pick the fallback threshold (and ambiguity threshold) by measurement.

    Criterion (default by data):
    - with out-of-scope examples in ``gold``: ``accuracy``, the share of utterances handled
      right when the fallback counts as right exactly for out-of-scope ones (each utterance
      weighs the same, as each call does); ``in_scope_acc+oos_recall`` is the alternative
      that weighs the (few) out-of-scope utterances as much as all in-scope ones together;
    - without: ``accept_reject_accuracy``, the share of utterances where the decision was
      right: a correct prediction kept, or a wrong one sent to the fallback.
    Ties go to the lower threshold (fewer needless hand-overs). ``curve`` records every
    threshold tried at the best ambiguity.
    """
    if not gold:
        raise ValueError("cannot choose a threshold on an empty set")
    g = np.array([fold_oos(x) for x in gold], dtype=object)
    ti = np.array([fold_oos(x) for x in top_intent], dtype=object)
    conf = np.asarray(top_conf, dtype=float)
    gap = conf - np.asarray(second_conf, dtype=float) if second_conf is not None else None
    is_oos = g == OOS
    has_oos = bool(is_oos.any())
    criterion = criterion or ("accuracy" if has_oos else "accept_reject_accuracy")
    if thresholds is None:
        thresholds = [round(x, 2) for x in np.arange(0.0, 1.0, 0.01)]
    top_right = ti == g  # right if kept (for OOS gold: the out_of_scope intent itself)
    top_oos = ti == OOS
    n, n_in, n_oos = len(g), int((~is_oos).sum()), int(is_oos.sum())
    best: ThresholdChoice | None = None
    for amb in ambiguities:
        curve = []
        for t in thresholds:
            rej = conf < t
            if amb > 0 and gap is not None:
                rej = rej | (gap < amb)
            pred_oos = rej | top_oos
            right = np.where(pred_oos, is_oos, top_right)
            m = {
                "accuracy": float(right.mean()),
                "in_scope_accuracy": float(right[~is_oos].mean()) if n_in else None,
                "oos_recall": float(pred_oos[is_oos].mean()) if n_oos else None,
                "oos_precision": (float(is_oos[pred_oos].mean()) if pred_oos.any() else None),
                "accept_reject_accuracy": float(
                    ((~pred_oos) & top_right).sum() + (rej & ~top_right).sum()
                )
                / n,
                "fallback_rate": float(pred_oos.mean()),
            }
            score = criterion_score(m, criterion)
            curve.append({"threshold": float(t), "score": score, **m})
            if best is None or score > best.score + 1e-12:
                best = ThresholdChoice(float(t), float(amb), criterion, score, m, [])
        if best is not None and best.ambiguity_threshold == float(amb):
            best.curve = curve
    assert best is not None
    return best
