"""Every test that starts Kamailio fails when Kamailio logs an ERROR (or worse) it did not expect.

Kamailio reports a misconfigured module by logging, not by failing: ``lock("admission")``
once locked nothing for months while kamailio.log said "lock set not initialized" 240
times in one test run (issue 11). Tests start Kamailio through ``voicebot serve``, whose
log is ``VOICEBOT_VAR/sip/kamailio/kamailio.log`` inside the test's temporary folder.

:func:`kamailio_log_check` (an autouse module fixture, imported by tests/conftest.py) reads,
once a module's fixtures are torn down (Kamailio stopped, its shutdown lines written), every
``kamailio.log`` under the run's base temporary folder that grew since the last check, and
fails that module's last test ("error at teardown") on any ERROR/CRITICAL/BUG/ALERT line not
on :data:`ALLOWED`. WARNING and NOTICE lines pass (the config itself logs a WARNING for each
malformed request it drops, which the hostile-SIP tests send on purpose).

Each :data:`ALLOWED` entry is a regular expression searched in the line and the reason the
line is expected; keep the list short and specific. A test module that provokes errors on
purpose (malformed SIP) adds its own entries in a module-level ``KAMAILIO_ALLOWED``, so the
allowance holds for that module only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from voicebot.telephony.kamlog import KamailioLine, LogReader

ALLOWED: tuple[tuple[str, str], ...] = ()
"""(pattern, why) for ERROR-or-worse lines a test provokes on purpose; empty so far: no test
of tests/sip and tests/multihost made Kamailio log one. (Kamailio's own shutdown noise is
left out by the reader itself: voicebot/telephony/kamlog.py SHUTDOWN_NOISE.)"""


def unexpected(
    text: str,
    allowed: tuple[tuple[str, str], ...] = ALLOWED,
    reader: LogReader | None = None,
) -> list[KamailioLine]:
    """The ERROR-or-worse lines of a Kamailio log text that no ``allowed`` pattern matches
    (``reader``: the one that read the same log's earlier text)."""
    patterns = [re.compile(p) for p, _ in allowed]
    found = (reader or LogReader()).feed(text)
    return [line for line in found if not any(p.search(str(line)) for p in patterns)]


class LogScan:
    """Remembers how far each ``kamailio.log`` under ``root`` was read, so a line is judged
    once, in the module whose test wrote it."""

    def __init__(self, root: Path, allowed: tuple[tuple[str, str], ...] = ALLOWED) -> None:
        self.root = root
        self.allowed = allowed
        self.read_to: dict[Path, int] = {}
        self.readers: dict[Path, LogReader] = {}

    def new_problems(self) -> list[str]:
        """``path: line`` for each unexpected ERROR-or-worse line written since the last call
        (complete lines only)."""
        out: list[str] = []
        for path in sorted(self.root.rglob("kamailio.log")):
            data = path.read_bytes()
            start = self.read_to.get(path, 0)
            if len(data) < start:
                start = 0
                self.readers.pop(path, None)
            end = data.rfind(b"\n", start) + 1 or start
            self.read_to[path] = end
            text = data[start:end].decode(errors="replace")
            reader = self.readers.setdefault(path, LogReader())
            out += [f"{path}: {line}" for line in unexpected(text, self.allowed, reader)]
        return out


_scans: dict[Path, LogScan] = {}


def scan_of(root: Path) -> LogScan:
    """The one :class:`LogScan` of the run whose base temporary folder is ``root``."""
    return _scans.setdefault(root, LogScan(root))


@pytest.fixture(scope="module", autouse=True)
def kamailio_log_check(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[None]:
    """After the module (its Kamailio stopped): no unexpected ERROR in any Kamailio log."""
    scan = scan_of(tmp_path_factory.getbasetemp())
    yield
    extra = tuple(getattr(request.module, "KAMAILIO_ALLOWED", ()))
    scan.allowed = ALLOWED + extra
    try:
        problems = scan.new_problems()
    finally:
        scan.allowed = ALLOWED
    if problems:
        shown = "\n".join(problems[:20])
        more = f"\n... and {len(problems) - 20} more" if len(problems) > 20 else ""
        pytest.fail(
            f"Kamailio logged {len(problems)} unexpected ERROR-or-worse line(s) "
            f"(allow-list: tests/_kamailio_log.py ALLOWED):\n{shown}{more}",
            pytrace=False,
        )
