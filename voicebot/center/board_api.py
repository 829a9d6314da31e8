"""What an agent board does, and which one a set-up uses.

Two boards implement :class:`Board` with the same behaviour (the tests run the same cases on
both):

* :class:`~voicebot.center.board.AgentBoard`: SQLite under ``var/acd.sqlite3``, one host,
  nothing to install (the default);
* :class:`~voicebot.center.board_redis.RedisBoard`: a Redis server, so the workers and
  supervisors of several hosts see the same agents and queues (the same server as the dialog
  state in a multi-host set-up). Every move is one Lua script, so it is atomic across hosts.

``sip.acd_board`` picks it (:func:`open_board`): ``sqlite``, a ``redis://HOST:PORT/DB`` URL,
or ``auto`` (default): Redis when the dialog's tracker store is a Redis URL (that server) or
``redis.serve`` is on (the ``redis`` section's server), SQLite otherwise.

Times: a board shared by hosts needs a clock the hosts share, so :func:`board_clock` is the
wall clock (``time.time()``, s) for a multi-host board and ``time.monotonic()`` for SQLite;
:func:`board_epoch` is what to add to an event loop's clock to get it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

from voicebot.errors import ConfigError

if TYPE_CHECKING:
    from voicebot.center.agents import AcdSettings, AgentRoster
    from voicebot.center.board import (
        AgentStatus,
        Offer,
        OfferResult,
        QueueOutcome,
    )
    from voicebot.config import Settings


class Board(Protocol):
    """The agent board: agent states and department queues, shared by every process.

    Times are seconds on one clock every user of the board shares (see :func:`board_clock`).
    """

    roster: AgentRoster
    acd: AcdSettings
    multi_host: bool
    """True when hosts share the board (its times are then wall-clock seconds)."""

    def register(self, key: str, contact: str, expires_s: float, now: float) -> None:
        """The agent's phone registered at ``contact`` for ``expires_s`` s (0 = gone)."""
        ...

    def pause(self, key: str, now: float) -> None:
        """The agent takes no calls."""
        ...

    def resume(self, key: str, now: float) -> None:
        """A paused or missed (registered) agent is available again, idle from ``now``."""
        ...

    def status(self, now: float) -> list[AgentStatus]:
        """Every configured agent, in file order."""
        ...

    def join(self, call_ref: str, department: str, now: float) -> int:
        """Put a call in ``department``'s queue; returns its position (1 = next)."""
        ...

    def position(self, call_ref: str) -> int:
        """Position of a waiting call (1 = next); 0 if it is not waiting."""
        ...

    def claim(self, call_ref: str, now: float) -> Offer | None:
        """Give the waiting call an agent to ring if it is its turn (see AgentBoard.claim)."""
        ...

    def offer_result(self, offer: Offer, result: OfferResult, now: float) -> None:
        """How the agent's phone answered the offer."""
        ...

    def call_ended(self, offer: Offer, now: float) -> None:
        """The agent's call is over: wrap-up starts, talk time is counted."""
        ...

    def leave(self, call_ref: str, outcome: QueueOutcome, now: float) -> None:
        """A waiting (or ringing) call left the queue."""
        ...

    def expected_wait_s(self, call_ref: str, now: float) -> float:
        """A rough wait estimate for a waiting call, s."""
        ...

    def history(
        self, since: float, until: float
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Queue entries that joined in [since, until) and their offers, as dicts with the
        columns of the SQLite board's ``queue`` and ``offers`` tables."""
        ...


def board_clock(board: Board) -> float:
    """Now on the board's clock, s: wall clock if hosts share it, else monotonic."""
    return time.time() if board.multi_host else time.monotonic()


def board_epoch(board: Board, loop_time: float) -> float:
    """What to add to an event loop's ``time()`` (``loop_time`` now) for the board's clock."""
    return board_clock(board) - loop_time if board.multi_host else 0.0


def board_location(settings: Settings) -> str:
    """``sqlite`` or the Redis URL the ``sip.acd_board`` setting resolves to."""
    from voicebot.center.redis_server import redis_settings
    from voicebot.config import section_to
    from voicebot.dialog.settings import dialog_config
    from voicebot.telephony.settings import SipSettings

    spec = section_to(SipSettings, settings, "sip").acd_board.strip()
    if spec == "auto":
        tracker = dialog_config(settings).tracker_store
        if tracker.startswith("redis://"):
            return tracker
        redis = redis_settings(settings)
        return redis.url if redis.serve else "sqlite"
    if spec == "sqlite" or spec.startswith("redis://"):
        return spec
    raise ConfigError(
        f"settings section 'sip': acd_board must be auto, sqlite or redis://HOST:PORT/DB,"
        f" got {spec!r}"
    )


def open_board(settings: Settings, roster: AgentRoster) -> Board:
    """The agent board ``sip.acd_board`` names (see the module docstring)."""
    where = board_location(settings)
    if where == "sqlite":
        from voicebot.center.board import AgentBoard
        from voicebot.paths import var_dir

        return AgentBoard(var_dir() / "acd.sqlite3", roster)
    from voicebot.center.board_redis import RedisBoard

    return RedisBoard(where, roster)
