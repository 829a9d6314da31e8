"""Custom actions that failed during one dialog turn.

Rasa 3.6 does not raise when a custom action fails (the action server is down, times out or
crashes): its message processor logs "Encountered an exception while running action ..."
and carries on without the action's events, so the caller would hear nothing. The bridge
wraps each turn in :func:`watch_actions`; a failure logged during the turn is collected
(per asyncio task, through a context variable, so concurrent calls do not mix) and the
bridge raises :class:`~voicebot.errors.DialogError` for it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

PROCESSOR_LOGGER = "rasa.core.processor"
_MARK = "while running action"

_current: ContextVar[list[str] | None] = ContextVar("voicebot_action_failures", default=None)


class _Collector(logging.Handler):
    """Adds the failure of each custom action to the list of the turn being handled."""

    def emit(self, record: logging.LogRecord) -> None:
        failures = _current.get()
        if failures is None or _MARK not in record.getMessage():
            return
        cause = record.exc_info[1] if record.exc_info else None
        failures.append(str(cause) if cause is not None else record.getMessage())


_collector = _Collector(level=logging.ERROR)


@contextmanager
def watch_actions() -> Iterator[list[str]]:
    """Collect the custom-action failures of the code run inside (in this task)."""
    logger = logging.getLogger(PROCESSOR_LOGGER)
    if _collector not in logger.handlers:
        logger.addHandler(_collector)
    failures: list[str] = []
    token = _current.set(failures)
    try:
        yield failures
    finally:
        _current.reset(token)
