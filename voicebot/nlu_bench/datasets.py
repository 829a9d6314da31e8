"""Loaders for the intent datasets under ``../shared/eval/intent`` (read-only, never copied).

Every loader returns a :class:`Dataset` with a train and an eval list of :class:`Example`.
Out-of-scope examples carry the label :data:`OOS_LABEL`. A file that cannot be used raises
:class:`voicebot.errors.DataError` naming the file and what is wrong with it.
"""

from __future__ import annotations

import csv
import json
import os
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from voicebot.errors import DataError
from voicebot.paths import project_root

OOS_LABEL = "out_of_scope"
DATASETS = ("clinc150", "banking77", "hwu64")
BANKING77_HOLDOUT = 0.10
BANKING77_SEED = 13


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    # Rasa entity annotations (dicts with start, end, entity, value), for product NLU data
    entities: tuple = field(default=(), compare=False)


@dataclass
class Dataset:
    name: str
    train: list[Example]
    eval: list[Example]
    eval_split: str
    source: list[str] = field(default_factory=list)

    @property
    def has_oos(self) -> bool:
        return any(e.intent == OOS_LABEL for e in self.eval)

    def intents(self) -> list[str]:
        return sorted({e.intent for e in self.train} | {e.intent for e in self.eval})


def intent_data_dir() -> Path:
    """``VOICEBOT_EVAL_DIR``/intent, else ``<project>/../shared/eval/intent``."""
    env = os.environ.get("VOICEBOT_EVAL_DIR")
    base = Path(env) if env else project_root().parent / "shared" / "eval"
    return base / "intent"


def _clean_label(label: str) -> str:
    label = label.strip()
    return OOS_LABEL if label == "oos" else label


# -- CLINC150 ----------------------------------------------------------------------------
def _clinc_items(path: Path, data: dict, key: str) -> list[Example]:
    items = data.get(key)
    if not isinstance(items, list):
        raise DataError(f"{path}: key '{key}' is missing or not a list")
    out = []
    for n, item in enumerate(items):
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not all(isinstance(x, str) and x.strip() for x in item)
        ):
            raise DataError(f"{path}: {key}[{n}] is not a [text, intent] pair of strings: {item!r}")
        out.append(Example(item[0].strip(), _clean_label(item[1])))
    return out


def load_clinc150(root: Path | None = None) -> Dataset:
    """train + oos_train -> train; val + oos_val -> eval (label ``oos`` -> out_of_scope)."""
    path = (root or intent_data_dir()) / "clinc150" / "clinc150_train_val.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataError(f"{path}: file not found") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object with keys train, val, oos_train, oos_val")
    train = _clinc_items(path, data, "train") + _clinc_items(path, data, "oos_train")
    ev = _clinc_items(path, data, "val") + _clinc_items(path, data, "oos_val")
    return Dataset("clinc150", train, ev, "val+oos_val", [str(path)])


# -- Banking77 ---------------------------------------------------------------------------
def _read_banking_csv(path: Path) -> list[Example]:
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            cols = reader.fieldnames or []
            if "text" not in cols or "category" not in cols:
                raise DataError(
                    f"{path}: header must have columns 'text' and 'category', found {cols}"
                )
            out = []
            for row in reader:
                text, cat = (row.get("text") or "").strip(), (row.get("category") or "").strip()
                if not text or not cat or None in row:
                    raise DataError(
                        f"{path}: line {reader.line_num}: expected a text and a category"
                    )
                out.append(Example(text, cat))
    except FileNotFoundError as exc:
        raise DataError(f"{path}: file not found") from exc
    except (csv.Error, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV file ({exc})") from exc
    if not out:
        raise DataError(f"{path}: no rows")
    return out


def stratified_split(
    examples: list[Example], fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """Hold out ``fraction`` of each intent (at least one when it has 2+), seeded, stable."""
    by_intent: dict[str, list[Example]] = defaultdict(list)
    for e in examples:
        by_intent[e.intent].append(e)
    rng = random.Random(seed)
    train, held = [], []
    for intent in sorted(by_intent):
        items = list(by_intent[intent])
        rng.shuffle(items)
        k = round(len(items) * fraction)
        if len(items) >= 2:
            k = max(1, min(k, len(items) - 1))
        else:
            k = 0
        held.extend(items[:k])
        train.extend(items[k:])
    return train, held


def load_banking77(
    root: Path | None = None, holdout: float = BANKING77_HOLDOUT, seed: int = BANKING77_SEED
) -> Dataset:
    """train.csv split into a stratified, seeded hold-out (default 10 %, seed 13)."""
    path = (root or intent_data_dir()) / "banking77" / "train.csv"
    rows = _read_banking_csv(path)
    train, held = stratified_split(rows, holdout, seed)
    return Dataset("banking77", train, held, f"holdout{holdout:g}-seed{seed}", [str(path)])


# -- HWU64 -------------------------------------------------------------------------------
def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DataError(f"{path}: file not found") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc})") from exc
    return text.splitlines()


def _hwu_split(folder: Path) -> list[Example]:
    seq, lab = folder / "seq.in", folder / "label"
    texts, labels = _read_lines(seq), _read_lines(lab)
    if len(texts) != len(labels):
        raise DataError(
            f"{seq}: {len(texts)} lines but {lab} has {len(labels)}; "
            "line i of seq.in must have its label on line i of label"
        )
    out = []
    for n, (t, lbl) in enumerate(zip(texts, labels, strict=True), 1):
        if not t.strip() or not lbl.strip():
            raise DataError(f"{seq if not t.strip() else lab}: line {n} is empty")
        out.append(Example(t.strip(), _clean_label(lbl)))
    return out


def load_hwu64(root: Path | None = None) -> Dataset:
    base = (root or intent_data_dir()) / "hwu64"
    return Dataset(
        "hwu64", _hwu_split(base / "train"), _hwu_split(base / "valid"), "valid", [str(base)]
    )


LOADERS = {"clinc150": load_clinc150, "banking77": load_banking77, "hwu64": load_hwu64}


def load_dataset(name: str, root: Path | None = None) -> Dataset:
    if name not in LOADERS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return LOADERS[name](root)


def limit_dataset(ds: Dataset, limit: int | None, seed: int = 0) -> Dataset:
    """A small slice for quick runs: the first ``limit`` intents (sorted; out-of-scope kept)
    with at most ``limit`` training and ``max(2, limit // 4)`` eval examples each."""
    if not limit:
        return ds
    names = [i for i in sorted({e.intent for e in ds.train}) if i != OOS_LABEL][:limit]
    keep = set(names) | {OOS_LABEL}
    per_eval = max(2, limit // 4)

    def take(items: list[Example], n: int) -> list[Example]:
        counts: dict[str, int] = defaultdict(int)
        out = []
        for e in items:
            if e.intent in keep and counts[e.intent] < n:
                counts[e.intent] += 1
                out.append(e)
        return out

    return Dataset(
        ds.name,
        take(ds.train, limit),
        take(ds.eval, per_eval),
        f"{ds.eval_split}-limit{limit}",
        ds.source,
    )
