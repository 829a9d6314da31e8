"""Kamailio's own log, read back: the ERROR (or worse) lines nobody would otherwise see.

Kamailio runs in the foreground with ``log_stderror=yes`` and writes to
``var/sip/kamailio/kamailio.log`` (:class:`voicebot.telephony.kamailio.KamailioProcess`).
With ``debug=1`` it logs NOTICE and worse, one line per message::

     1(13109) ERROR: cfgutils [cfgutils.c:733]: w_lock(): lock set not initialized

(process number, pid, level, module). A module that is misconfigured may do nothing but
log such a line on every request: once ``lock("admission")`` locked nothing for months
while the log said "lock set not initialized" on every INVITE (issue 11). So
``voicebot serve`` repeats every new ERROR-or-worse line in its own output and counts
them on its health line (:class:`KamailioLogWatch`), and the tests fail on any such line
that is not on their short allow-list (tests/_kamailio_log.py).

One kind of line is not a fault: once the main process has taken SIGTERM ("Thank you for
flying kamailio"), it stops its children, and the TCP main process may read the end of the
sockets of TCP workers that exited first, which Kamailio 5.6 logs as CRITICAL
``receive_fd(): EOF on N`` (:data:`SHUTDOWN_NOISE`). Such lines after the stop are skipped;
the same line while Kamailio runs still counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SERIOUS = ("ERROR", "CRITICAL", "BUG", "ALERT")
"""Kamailio's level names for ERROR and worse (L_ERR, L_CRIT/L_CRIT2, L_BUG, L_ALERT)."""
LEVELS = (*SERIOUS, "WARNING", "NOTICE", "INFO", "DEBUG")

STARTING = "loading modules under config path"
"""Kamailio's first line at each start (the log is appended to across restarts)."""
STOPPING = "Thank you for flying"
"""The main process's line when it takes SIGTERM, before it stops its children."""
SHUTDOWN_NOISE = (
    re.compile(r"receive_fd\(\): EOF on \d+$"),  # tcp_main: a TCP worker already exited
)
"""ERROR-or-worse lines that are expected after :data:`STOPPING` (see the module text)."""

_LINE = re.compile(r"^\s*(?:\d+\(\d+\)\s+)?(?P<level>" + "|".join(LEVELS) + r"):\s+(?P<text>.*)$")


@dataclass(frozen=True)
class KamailioLine:
    """One log line of Kamailio's: its level name and the text after it."""

    level: str
    text: str

    @property
    def serious(self) -> bool:
        """ERROR or worse."""
        return self.level in SERIOUS

    def __str__(self) -> str:
        return f"{self.level}: {self.text}"


def parse_line(line: str) -> KamailioLine | None:
    """The level and text of one Kamailio log line; None for lines without a level (the
    start-up banner: "Listening on", addresses, aliases)."""
    found = _LINE.match(line.rstrip("\r\n"))
    if found is None:
        return None
    return KamailioLine(found.group("level"), found.group("text").strip())


class LogReader:
    """Reads a Kamailio log in pieces, in order, and keeps whether Kamailio is stopping
    (after :data:`STOPPING`, until the next :data:`STARTING`)."""

    def __init__(self) -> None:
        self.stopping = False

    def feed(self, text: str) -> list[KamailioLine]:
        """The ERROR-or-worse lines of ``text`` (complete lines), shutdown noise left out."""
        out = []
        for raw in text.splitlines():
            if STARTING in raw:
                self.stopping = False
            elif STOPPING in raw:
                self.stopping = True
            line = parse_line(raw)
            if line is None or not line.serious:
                continue
            if self.stopping and any(p.search(line.text) for p in SHUTDOWN_NOISE):
                continue
            out.append(line)
        return out


def serious_lines(text: str) -> list[KamailioLine]:
    """The ERROR-or-worse lines of a whole log text, in order (shutdown noise left out)."""
    return LogReader().feed(text)


class KamailioLogWatch:
    """Follows ``kamailio.log`` from where it was when the watch was made (or from the
    start): :meth:`poll` returns the ERROR-or-worse lines written since the last poll
    (complete lines only) and :attr:`count` sums them."""

    def __init__(self, path: Path, from_start: bool = False) -> None:
        self.path = path
        self.offset = 0 if from_start or not path.exists() else path.stat().st_size
        self.count = 0
        self.reader = LogReader()

    def poll(self) -> list[KamailioLine]:
        """New ERROR-or-worse lines since the last call (none when the file is missing)."""
        try:
            with open(self.path, "rb") as f:
                if f.seek(0, 2) < self.offset:  # (truncated or replaced: start over)
                    self.offset = 0
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return []
        end = data.rfind(b"\n") + 1  # (a line still being written waits for the next poll)
        self.offset += end
        found = self.reader.feed(data[:end].decode(errors="replace"))
        self.count += len(found)
        return found
