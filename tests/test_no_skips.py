"""The CI rule of tests/_no_skips.py, run on small throw-away test files with pytester."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

CONFTEST = """
import _no_skips

def pytest_configure(config):
    _no_skips.register(config)
"""
TESTS = """
import pytest

def test_runs():
    assert 1 + 1 == 2

def test_needs_a_peer():
    pytest.skip("sipp (Debian sip-tester) not installed")

@pytest.mark.xfail(reason="known", strict=True)
def test_expected_failure():
    assert False
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=TESTS)
    return pytester


def test_a_skip_fails_the_run_under_ci(suite: pytest.Pytester, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CI", "true")
    result = suite.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=1, xfailed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*skipped tests fail the run under CI=true*",
            "SKIPPED (fails under CI): test_suite.py::test_needs_a_peer: sipp (Debian*",
            "1 test(s) did not run*",
        ]
    )


def test_a_skip_is_only_reported_outside_ci(suite: pytest.Pytester, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("CI", raising=False)
    result = suite.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=1, xfailed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["SKIPPED*sipp (Debian sip-tester) not installed"])
    result.stdout.no_fnmatch_line("*fail the run under CI*")


def test_a_module_skipped_at_import_counts_too(pytester: pytest.Pytester, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CI", "true")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_model='import pytest\nko = pytest.importorskip("no_such_model_pkg")\n')
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["SKIPPED (fails under CI): test_model.py: *no_such_model_pkg*"])


def test_a_clean_run_passes_under_ci(pytester: pytest.Pytester, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CI", "true")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_ok="def test_ok():\n    assert [1] * 2 == [1, 1]\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
