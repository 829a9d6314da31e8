"""Replay verdicts against the accepted baseline: regressions fail, known failures show with
their reasons, a known failure that fails differently is flagged, and ``--update-baseline``
refuses a partial run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from voicebot.errors import DataError
from voicebot.replay import baseline
from voicebot.replay.baseline import Entry
from voicebot.replay.runner import CaseResult

ROOT = Path(__file__).resolve().parents[1]
ABANDONED = "outcome abandoned, expected resolved"


def result(name: str, passed: bool, failures: list[str] | None = None) -> CaseResult:
    return CaseResult(
        name=name,
        description="",
        passed=passed,
        failures=[] if passed else (failures or [ABANDONED]),
        outcome={"kind": "resolved" if passed else "abandoned"},
        heard=[],
        intents=[],
        latencies_ms=[],
        turns=[],
    )


def known(why: str = "tiny.en mishears the date", *sig: str) -> Entry:
    return Entry(False, why, tuple(sorted(sig or (ABANDONED,))))


def test_compare_sorts_cases_into_regressions_known_and_fixed() -> None:
    before = {"a": Entry(True), "b": known(), "c": known()}
    now = [result("a", False), result("b", False), result("c", True), result("new", False)]
    verdict = baseline.compare(now, before)
    assert verdict.regressions == ["a", "new"]
    assert verdict.known_failures == ["b"]
    assert verdict.fixed == ["c"]
    assert verdict.changed == {}
    assert not verdict.ok


def test_all_passing_with_known_failures_is_ok() -> None:
    verdict = baseline.compare([result("a", True), result("b", False)], {"a": True, "b": known()})
    assert verdict.ok and verdict.known_failures == ["b"]


def test_a_known_failure_that_fails_differently_is_flagged() -> None:
    misheard = "heard[3]: 'Well, so much, I did.' lacks march"
    now = [result("b", False, [misheard, ABANDONED])]
    verdict = baseline.compare(now, {"b": known()})
    assert verdict.known_failures == ["b"]
    assert verdict.changed == {"b": ((ABANDONED,), tuple(sorted([misheard, ABANDONED])))}
    assert not verdict.ok  # the written reason may no longer hold
    same = baseline.compare([result("b", False, [ABANDONED, ABANDONED])], {"b": known()})
    assert same.ok and same.changed == {}  # order and duplicates do not matter


def test_save_and_load_round_trip_keeps_the_reasons(tmp_path: Path) -> None:
    path = tmp_path / "_baseline.json"
    baseline.save(path, [result("a", True), result("b", False)], {"b": "tiny.en mishears it"})
    data = json.loads(path.read_text())
    assert data["format"] == 2
    assert data["cases"]["a"] == {"pass": True}
    assert data["cases"]["b"] == {
        "pass": False,
        "why": "tiny.en mishears it",
        "signature": [ABANDONED],
    }
    assert baseline.load(path) == {"a": Entry(True), "b": known("tiny.en mishears it")}
    assert baseline.load(tmp_path / "absent.json") == {}
    # accepting again keeps a reason already written for a case that still fails
    baseline.save(
        path, [result("a", False), result("b", False)], {"a": "new cause"}, baseline.load(path)
    )
    assert baseline.load(path)["b"].why == "tiny.en mishears it"
    assert baseline.load(path)["a"] == known("new cause")


def test_a_new_failure_needs_a_reason() -> None:
    old = {"a": Entry(True), "b": known("written")}
    now = [result("a", False), result("b", False), result("c", False), result("d", True)]
    assert baseline.missing_reasons(now, old, {}) == ["a", "c"]
    assert baseline.missing_reasons(now, old, {"a": "x", "c": "y"}) == []


def test_the_first_format_is_still_read(tmp_path: Path) -> None:
    path = tmp_path / "_baseline.json"
    old = {"a": {"passed": True, "failures": []}, "b": {"passed": False, "failures": [ABANDONED]}}
    path.write_text(json.dumps({"cases": old}))
    assert baseline.load(path) == {"a": Entry(True), "b": Entry(False, "", (ABANDONED,))}


def test_the_suite_baseline_says_why_each_known_failure_fails() -> None:
    data = json.loads((ROOT / "tests" / "audio" / "_baseline.json").read_text())
    assert data["format"] == 2
    failing = {k: v for k, v in data["cases"].items() if not v["pass"]}
    for name, entry in failing.items():
        assert len(entry["why"].split()) >= 5, name  # a sentence, not a placeholder
        assert entry["signature"], name


@pytest.mark.parametrize(
    "body", ['{"cases": {"a": 3}}', '{"cases": {"a": {"pass": "yes"}}}', "not json", "{}"]
)
def test_broken_baseline_is_a_data_error(tmp_path: Path, body: str) -> None:
    path = tmp_path / "_baseline.json"
    path.write_text(body)
    with pytest.raises(DataError, match="not valid"):
        baseline.load(path)


@pytest.mark.parametrize("partial", [["-k", "hours"], ["tests/audio/hours_us_male.yml"]])
def test_update_baseline_refuses_a_partial_run(tmp_path: Path, partial: list[str]) -> None:
    base = tmp_path / "_baseline.json"
    folder = [] if partial[0] != "-k" else ["tests/audio"]
    cmd = [sys.executable, "-m", "voicebot.cli", "replay", *folder, *partial]
    cmd += ["--update-baseline", "--baseline", str(base), "--out", str(tmp_path / "out")]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--update-baseline needs a full run" in done.stderr
    assert "Traceback" not in done.stderr
    assert not base.exists()  # refused before anything ran or was written
