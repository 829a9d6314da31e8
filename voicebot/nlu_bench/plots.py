"""Confusion plot of a benchmark run (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from voicebot.nlu_bench.metrics import OOS, confused_pairs, fold_oos


def plot_results(
    gold: Sequence[str], pred: Sequence[str | None], results: dict[str, Any], path: Path
) -> Path:
    """Three panels: row-normalised confusion heat map (classes sorted, OOS last; labels
    shown up to 40 classes), the most-confused pairs, and the fallback-threshold curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = [fold_oos(x) for x in gold]
    p = [fold_oos(x) for x in pred]
    classes = sorted(set(g) - {OOS}) + ([OOS] if OOS in set(g) | set(p) else [])
    idx = {c: i for i, c in enumerate(classes)}
    cm = np.zeros((len(classes), len(classes)))
    for a, b in zip(g, p, strict=True):
        if b in idx:
            cm[idx[a], idx[b]] += 1
    cm = cm / np.clip(cm.sum(1, keepdims=True), 1, None)

    fig = plt.figure(figsize=(18, 7.5))
    ax1 = fig.add_subplot(1, 3, 1)
    im = ax1.imshow(cm, cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    ax1.set_title(f"{results['dataset']}: confusion (row-normalised, {len(classes)} classes)")
    ax1.set_xlabel("predicted")
    ax1.set_ylabel("gold")
    if len(classes) <= 40:
        ax1.set_xticks(range(len(classes)), classes, rotation=90, fontsize=6)
        ax1.set_yticks(range(len(classes)), classes, fontsize=6)
    fig.colorbar(im, ax=ax1, fraction=0.046)

    ax2 = fig.add_subplot(1, 3, 2)
    pairs = confused_pairs(gold, pred, 20)
    if pairs:
        labels = [f"{a} → {b}" for a, b, _ in pairs][::-1]
        ax2.barh(range(len(pairs)), [k for _, _, k in pairs][::-1], color="tab:red")
        ax2.set_yticks(range(len(pairs)), labels, fontsize=7)
    ax2.set_title("most frequent confusions (gold → predicted)")
    ax2.set_xlabel("count")

    ax3 = fig.add_subplot(1, 3, 3)
    curve = results.get("threshold_sweep", {}).get("curve", [])
    if curve:
        t = [c["threshold"] for c in curve]
        for key, label in (
            ("in_scope_accuracy", "in-scope accuracy"),
            ("oos_recall", "OOS recall"),
            ("oos_precision", "OOS precision"),
            ("accept_reject_accuracy", "accept/reject accuracy"),
        ):
            ys = [c.get(key) for c in curve]
            if any(y is not None for y in ys):
                ax3.plot(t, [np.nan if y is None else y for y in ys], label=label)
        if results.get("fallback_threshold") is not None:
            ax3.axvline(results["fallback_threshold"], color="k", ls="--", label="configured")
        best = results["threshold_sweep"]["best"]["threshold"]
        ax3.axvline(best, color="tab:green", ls=":", label=f"best {best:.2f}")
        ax3.set_ylim(0, 1.01)
        ax3.legend(fontsize=7, loc="lower left")
    ax3.set_title("fallback threshold sweep")
    ax3.set_xlabel("threshold on top confidence")
    m = results["metrics"]
    fig.suptitle(
        f"acc {m['accuracy']:.3f}  macro-F1 {m['macro_f1']:.3f}"
        + (
            f"  in-scope {m['in_scope_accuracy']:.3f}  OOS recall {m['oos_recall']:.3f}"
            if m.get("oos_n")
            else ""
        )
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
