"""The replay baseline: which cases passed when the suite was last accepted, and why the
others fail.

A regression is a case that passed in the baseline and fails now, or a new case (not in the
baseline) that fails. Cases that already failed in the baseline are *known failures*: each
stores ``why`` (a sentence written by a person: the cause) and ``signature`` (the failed
expectations as the checks worded them, e.g. ``outcome abandoned, expected resolved`` or
``heard[2]: 'Or 5' lacks 4``). A known failure that now fails *differently* (another
signature) is flagged as ``changed``: the old reason may no longer hold, so it counts against
the run like a regression. ``voicebot replay --update-baseline`` accepts the current results
of a full run (never of a ``-k`` selection) and keeps the reasons already written.

File format (``_baseline.json``)::

    {"format": 2, "cases": {"a": {"pass": true},
                            "b": {"pass": false, "why": "...", "signature": ["..."]}}}

The first format (``{"passed": bool, "failures": [...]}`` per case) is still read: its
failures become the signature and its reason is empty.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicebot.errors import DataError
from voicebot.replay.runner import CaseResult

FORMAT = 2


@dataclass(frozen=True)
class Entry:
    """One case in the baseline.

    Attributes:
        passed: the case passed when the baseline was accepted.
        why: for a known failure, the cause in a person's words ("" when not written).
        signature: for a known failure, the failed expectations, sorted.
    """

    passed: bool
    why: str = ""
    signature: tuple[str, ...] = ()


@dataclass(frozen=True)
class Comparison:
    regressions: list[str]
    known_failures: list[str]
    fixed: list[str]
    changed: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)
    """Known failures that fail differently now: name -> (signature then, signature now)."""

    @property
    def ok(self) -> bool:
        return not self.regressions and not self.changed


def signature(failures: Iterable[str]) -> tuple[str, ...]:
    """The signature of a failed case: its failure lines, sorted, without duplicates."""
    return tuple(sorted(set(failures)))


def _entry(name: str, value: Any) -> Entry:
    if not isinstance(value, Mapping):
        raise TypeError(f"case {name!r}: expected an object, got {value!r}")
    if "pass" in value:  # format 2
        passed = value["pass"]
        failures = value.get("signature", [])
    else:  # format 1: {"passed": bool, "failures": [...]}
        passed = value["passed"]
        failures = value.get("failures", [])
    if not isinstance(passed, bool):
        raise TypeError(f"case {name!r}: 'pass' must be true or false, got {passed!r}")
    why = value.get("why", "")
    if not isinstance(why, str) or not isinstance(failures, list):
        raise TypeError(f"case {name!r}: 'why' must be text and 'signature' a list")
    return Entry(passed, why, () if passed else signature(str(f) for f in failures))


def load(path: Path) -> dict[str, Entry]:
    """Case name -> :class:`Entry`, from a baseline file (empty when there is none)."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        return {name: _entry(name, v) for name, v in data["cases"].items()}
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(f"replay baseline {path} is not valid: {exc}") from exc


def _as_entry(value: Entry | bool) -> Entry:
    return value if isinstance(value, Entry) else Entry(bool(value))


def compare(results: list[CaseResult], baseline: Mapping[str, Entry | bool]) -> Comparison:
    """Sort ``results`` against ``baseline`` (entries, or plain passed flags)."""
    regressions, known, fixed = [], [], []
    changed: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for r in results:
        before = baseline.get(r.name)
        entry = None if before is None else _as_entry(before)
        if r.passed:
            if entry is not None and not entry.passed:
                fixed.append(r.name)
        elif entry is not None and not entry.passed:
            known.append(r.name)
            now = signature(r.failures)
            if entry.signature and now != entry.signature:
                changed[r.name] = (entry.signature, now)
        else:
            regressions.append(r.name)
    return Comparison(regressions, known, fixed, changed)


def missing_reasons(
    results: list[CaseResult], old: Mapping[str, Entry], why: Mapping[str, str]
) -> list[str]:
    """Failing cases that would enter the baseline with no reason (none given in ``why``
    and none already written for the same failure)."""
    out = []
    for r in results:
        if r.passed or why.get(r.name):
            continue
        before = old.get(r.name)
        if before is None or before.passed or not before.why:
            out.append(r.name)
    return out


def save(
    path: Path,
    results: list[CaseResult],
    why: Mapping[str, str] | None = None,
    old: Mapping[str, Entry] | None = None,
) -> None:
    """Write ``results`` as the baseline; a known failure's reason comes from ``why`` or,
    when the case failed before too, from ``old``."""
    why = why or {}
    old = old or {}
    cases: dict[str, dict[str, Any]] = {}
    for r in results:
        if r.passed:
            cases[r.name] = {"pass": True}
            continue
        before = old.get(r.name)
        reason = why.get(r.name) or (before.why if before and not before.passed else "")
        cases[r.name] = {"pass": False, "why": reason, "signature": list(signature(r.failures))}
    doc = {"format": FORMAT, "cases": cases}
    path.write_text(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
