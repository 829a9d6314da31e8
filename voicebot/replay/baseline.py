"""The replay baseline: which cases passed when the suite was last accepted.

A regression is a case that passed in the baseline and fails now, or a new case (not in the
baseline) that fails. Cases that already failed in the baseline are *known failures*: shown
in every report with their reasons, never silently passing as fixed or hidden. ``voicebot
replay --update-baseline`` accepts the current results.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from voicebot.errors import DataError
from voicebot.replay.runner import CaseResult


@dataclass(frozen=True)
class Comparison:
    regressions: list[str]
    known_failures: list[str]
    fixed: list[str]

    @property
    def ok(self) -> bool:
        return not self.regressions


def load(path: Path) -> dict[str, bool]:
    """Case name -> passed, from a baseline file (empty when there is none)."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        return {name: bool(v["passed"]) for name, v in data["cases"].items()}
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(f"replay baseline {path} is not valid: {exc}") from exc


def compare(results: list[CaseResult], baseline: dict[str, bool]) -> Comparison:
    regressions, known, fixed = [], [], []
    for r in results:
        before = baseline.get(r.name)
        if r.passed:
            if before is False:
                fixed.append(r.name)
        elif before is False:
            known.append(r.name)
        else:
            regressions.append(r.name)
    return Comparison(regressions, known, fixed)


def save(path: Path, results: list[CaseResult]) -> None:
    cases = {r.name: {"passed": r.passed, "failures": r.failures} for r in results}
    path.write_text(json.dumps({"cases": cases}, indent=2, sort_keys=True) + "\n")
