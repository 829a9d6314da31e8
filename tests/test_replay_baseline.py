"""Replay verdicts against the accepted baseline: regressions fail, known failures show."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicebot.errors import DataError
from voicebot.replay import baseline
from voicebot.replay.runner import CaseResult


def result(name: str, passed: bool) -> CaseResult:
    return CaseResult(
        name=name,
        description="",
        passed=passed,
        failures=[] if passed else ["outcome abandoned, expected resolved"],
        outcome={"kind": "resolved" if passed else "abandoned"},
        heard=[],
        intents=[],
        latencies_ms=[],
        turns=[],
    )


def test_compare_sorts_cases_into_regressions_known_and_fixed() -> None:
    before = {"a": True, "b": False, "c": False}
    now = [result("a", False), result("b", False), result("c", True), result("new", False)]
    verdict = baseline.compare(now, before)
    assert verdict.regressions == ["a", "new"]
    assert verdict.known_failures == ["b"]
    assert verdict.fixed == ["c"]
    assert not verdict.ok


def test_all_passing_with_known_failures_is_ok() -> None:
    verdict = baseline.compare([result("a", True), result("b", False)], {"a": True, "b": False})
    assert verdict.ok and verdict.known_failures == ["b"]


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "_baseline.json"
    baseline.save(path, [result("a", True), result("b", False)])
    assert baseline.load(path) == {"a": True, "b": False}
    assert baseline.load(tmp_path / "absent.json") == {}


def test_broken_baseline_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "_baseline.json"
    path.write_text('{"cases": {"a": 3}}')
    with pytest.raises(DataError, match="not valid"):
        baseline.load(path)
