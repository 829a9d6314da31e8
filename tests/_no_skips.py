"""Under ``CI=true`` a skipped test fails the run (a pytest plugin loaded by conftest.py).

A test that skips because a peer, a model or a data set is missing has not run; CI must
not pass that way (``scripts/bootstrap.sh dev`` installs every peer and package the
tests need, and CI has ``../shared/eval`` beside the checkout). Outside CI skips are
only reported (``-rs`` in pyproject's addopts), so a partial developer set-up still runs.
Expected failures (``xfail``) are not skips.
"""

from __future__ import annotations

import os

import pytest


def ci_mode() -> bool:
    """True when the ``CI`` environment variable is set to a true value."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def skip_reason(report: pytest.CollectReport | pytest.TestReport) -> str:
    """The reason a skipped report gives (pytest keeps it as (file, line, reason))."""
    if isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return str(report.longrepr)


class NoSkips:
    """Collects every skip; under CI=true the session fails and lists them."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.skipped: list[str] = []

    def _note(self, report: pytest.CollectReport | pytest.TestReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            self.skipped.append(f"{report.nodeid}: {skip_reason(report)}")

    @pytest.hookimpl
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self._note(report)

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._note(report)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        done = (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
        if self.strict and self.skipped and session.exitstatus in done:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not (self.strict and self.skipped):
            return
        tr = terminalreporter
        tr.section("skipped tests fail the run under CI=true", red=True, bold=True)
        for line in self.skipped:
            tr.write_line(f"SKIPPED (fails under CI): {line}", red=True)
        tr.write_line(
            f"{len(self.skipped)} test(s) did not run: install what they need "
            "(scripts/bootstrap.sh dev) and put the shared evaluation data in ../shared/eval",
            red=True,
        )


def register(config: pytest.Config) -> NoSkips:
    """Register the plugin on ``config`` (strict when CI=true)."""
    plugin = NoSkips(strict=ci_mode())
    config.pluginmanager.register(plugin, "voicebot-no-skips")
    return plugin
