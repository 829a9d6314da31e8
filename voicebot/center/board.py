"""The agent board: who is available, ringing, busy, in wrap-up or paused, and the queue.

Every process of a host (call workers, the dashboard) reads and writes the same board, an
SQLite database in WAL mode (``var/acd.sqlite3`` by default). The moves that must not race
— giving an agent to a call, the queue order — run in ``BEGIN IMMEDIATE`` transactions, so
two calls never take the same agent.

Agent states::

    offline --register--> available --claim--> ringing --answered--> busy --ended--> wrap_up
       ^                    ^   ^                 |  |                                 |
       |                    |   +----refused------+  +--missed--> missed (paused)      |
       +--unregister--------+--------------------------(wrap_up_s elapsed)-------------+
                         paused <--pause / resume--> available

An agent is offered a call only when available (or past the end of wrap-up) and registered
(their phone's registration has not expired). Registration is apart from the state: a lapsed
registration makes only an available agent offline, and a refresh changes nothing; paused,
missed and wrap-up are kept through both (an offline agent may pause, too). Among those,
the one idle longest goes first: ``idle_since`` is when they last became free (end of
wrap-up, resume, a refused or missed offer). Queued calls are served oldest first, per
department. Times are seconds since the epoch (or any monotonic clock the caller passes
consistently).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from voicebot.center.agents import AcdSettings, AgentRoster
from voicebot.errors import StoreError

AgentState = Literal["offline", "available", "ringing", "busy", "wrap_up", "paused", "missed"]
OfferResult = Literal["answered", "missed", "refused", "failed"]
QueueOutcome = Literal["answered", "abandoned", "message", "failed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS agents (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL DEFAULT 'offline',
    contact TEXT,
    registered_until REAL NOT NULL DEFAULT 0,
    state_since REAL NOT NULL DEFAULT 0,
    idle_since REAL NOT NULL DEFAULT 0,
    wrap_until REAL NOT NULL DEFAULT 0,
    current_call TEXT,
    missed INTEGER NOT NULL DEFAULT 0,
    calls INTEGER NOT NULL DEFAULT 0,
    talk_s REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS queue (
    call_ref TEXT PRIMARY KEY,
    department TEXT NOT NULL,
    joined_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'waiting',
    agent TEXT,
    answered_at REAL,
    ended_at REAL
);
CREATE INDEX IF NOT EXISTS queue_waiting ON queue (department, state, joined_at);
CREATE TABLE IF NOT EXISTS offers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_ref TEXT NOT NULL,
    agent TEXT NOT NULL,
    department TEXT NOT NULL,
    offered_at REAL NOT NULL,
    result TEXT,
    answered_at REAL,
    ended_at REAL
);
CREATE INDEX IF NOT EXISTS offers_call ON offers (call_ref);
"""

# An agent is free for a new call: available, or in wrap-up whose time is over (one ``?``:
# now); the longest idle first: free since the end of wrap-up, or since ``idle_since``.
_FREE = "(a.state = 'available' OR (a.state = 'wrap_up' AND a.wrap_until <= ?))"
_IDLE_KEY = "CASE WHEN a.state = 'wrap_up' THEN a.wrap_until ELSE a.idle_since END"


@dataclass(frozen=True)
class AgentStatus:
    """One agent as the board sees them now.

    Attributes:
        key: the agent's key (agents.yml).
        state: effective state (a finished wrap-up reads as ``available``).
        registered: their phone's registration is current.
        contact: where their phone registered (SIP contact URI), if known.
        idle_s: seconds since they last became free (0 unless available).
        current_call: the call they ring for or talk to.
        calls: calls answered; talk_s: seconds talked; missed: offers not answered.
    """

    key: str
    state: AgentState
    registered: bool
    contact: str | None
    idle_s: float
    current_call: str | None
    calls: int
    talk_s: float
    missed: int


@dataclass(frozen=True)
class Offer:
    """A call given to an agent to ring: ``offer_id`` identifies it for the result."""

    offer_id: int
    call_ref: str
    agent: str
    contact: str | None


class AgentBoard:
    """Agent states and the department queues, shared by every process of a host."""

    multi_host = False  # one host: monotonic times (see voicebot.center.board_api)

    def __init__(self, path: Path | str, roster: AgentRoster) -> None:
        self.path = Path(path)
        self.roster = roster
        self.acd: AcdSettings = roster.acd
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with sqlite3.connect(self.path, timeout=10.0) as setup:
                setup.execute("PRAGMA journal_mode=WAL")
                setup.executescript(_SCHEMA)  # idempotent: IF NOT EXISTS
        except sqlite3.Error as exc:
            raise StoreError(f"cannot create the agent board {self.path}: {exc}") from exc
        with self._tx() as db:
            db.executemany(
                "INSERT OR IGNORE INTO agents (key) VALUES (?)",
                [(key,) for key in roster.agents],
            )

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction (a write lock across processes), committed on exit."""
        try:
            db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the agent board {self.path}: {exc}") from exc
        db.row_factory = sqlite3.Row
        try:
            with self._lock:
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"agent board {self.path}: {exc}") from exc
        finally:
            db.close()

    # ------------------------------------------------------------------ agents

    def register(self, key: str, contact: str, expires_s: float, now: float) -> None:
        """The agent's phone registered at ``contact`` for ``expires_s`` seconds (0 = gone).

        A newly registered agent who was offline becomes available (idle from ``now``). A
        refresh (re-REGISTER) changes nothing but the expiry: a paused, missed, ringing,
        busy or wrap-up agent stays so, an available one keeps their idle time.
        """
        self.roster.get(key)
        with self._tx() as db:
            row = db.execute("SELECT state FROM agents WHERE key = ?", (key,)).fetchone()
            if expires_s <= 0:
                # A busy or ringing agent keeps their call. Only an available agent goes
                # offline: paused, missed and wrap-up are the agent's own state and survive
                # a lapsed or renewed registration (an unregistered agent gets no call).
                db.execute(
                    "UPDATE agents SET registered_until = 0, contact = NULL WHERE key = ?",
                    (key,),
                )
                db.execute(
                    "UPDATE agents SET state = 'offline', state_since = ?"
                    " WHERE key = ? AND state = 'available'",
                    (now, key),
                )
                return
            db.execute(
                "UPDATE agents SET registered_until = ?, contact = ? WHERE key = ?",
                (now + expires_s, contact, key),
            )
            if row["state"] == "offline":
                db.execute(
                    "UPDATE agents SET state = 'available', state_since = ?, idle_since = ?"
                    " WHERE key = ?",
                    (now, now, key),
                )

    def pause(self, key: str, now: float) -> None:
        """The agent takes no calls (set from the dashboard or a keypad code). An offline
        agent may pause too: they stay paused when their phone registers."""
        self.roster.get(key)
        with self._tx() as db:
            db.execute(
                "UPDATE agents SET state = 'paused', state_since = ? WHERE key = ?"
                " AND state IN ('available', 'wrap_up', 'missed', 'offline')",
                (now, key),
            )

    def resume(self, key: str, now: float) -> None:
        """A paused or missed agent is available again, idle from ``now``."""
        self.roster.get(key)
        with self._tx() as db:
            db.execute(
                "UPDATE agents SET state = 'available', state_since = ?, idle_since = ?"
                " WHERE key = ? AND state IN ('paused', 'missed', 'offline')"
                " AND registered_until > ?",
                (now, now, key, now),
            )

    def status(self, now: float) -> list[AgentStatus]:
        """Every configured agent, in file order."""
        with self._tx() as db:
            rows = {r["key"]: r for r in db.execute("SELECT * FROM agents")}
        out = []
        for key in self.roster.agents:
            r = rows[key]
            state: AgentState = r["state"]
            idle_from = r["idle_since"]
            if state == "wrap_up" and r["wrap_until"] <= now:
                state, idle_from = "available", r["wrap_until"]
            out.append(
                AgentStatus(
                    key=key,
                    state=state,
                    registered=r["registered_until"] > now,
                    contact=r["contact"],
                    idle_s=max(0.0, now - idle_from) if state == "available" else 0.0,
                    current_call=r["current_call"],
                    calls=r["calls"],
                    talk_s=r["talk_s"],
                    missed=r["missed"],
                )
            )
        return out

    # ------------------------------------------------------------------ queue

    def join(self, call_ref: str, department: str, now: float) -> int:
        """Put a call in ``department``'s queue; returns its position (1 = next)."""
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO queue (call_ref, department, joined_at) VALUES (?, ?, ?)",
                (call_ref, department, now),
            )
            return self._position(db, call_ref)

    def position(self, call_ref: str) -> int:
        """Position of a waiting call in its queue (1 = next); 0 if it is not waiting."""
        with self._tx() as db:
            return self._position(db, call_ref)

    @staticmethod
    def _position(db: sqlite3.Connection, call_ref: str) -> int:
        me = db.execute(
            "SELECT department, joined_at, state FROM queue WHERE call_ref = ?", (call_ref,)
        ).fetchone()
        if me is None or me["state"] != "waiting":
            return 0
        ahead = db.execute(
            "SELECT COUNT(*) FROM queue WHERE department = ? AND state = 'waiting'"
            " AND (joined_at < ? OR (joined_at = ? AND call_ref < ?))",
            (me["department"], me["joined_at"], me["joined_at"], call_ref),
        ).fetchone()[0]
        return int(ahead) + 1

    def claim(self, call_ref: str, now: float) -> Offer | None:
        """Give the waiting call ``call_ref`` an agent to ring, if it is its turn.

        Calls of a department are served oldest first: the call at position *p* gets the
        *p*-th longest-idle free agent, so when several agents are free several calls ring
        at once, and a newer call never takes an agent an older one could have had. The
        agent moves to ``ringing``; report the result with :meth:`offer_result`.
        """
        with self._tx() as db:
            me = db.execute(
                "SELECT department, state FROM queue WHERE call_ref = ?", (call_ref,)
            ).fetchone()
            if me is None or me["state"] != "waiting":
                return None
            department = me["department"]
            keys = [a.key for a in self.roster.for_department(department)]
            if not keys:
                return None
            marks = ",".join("?" * len(keys))
            free = db.execute(
                f"SELECT a.key, a.contact FROM agents a WHERE a.key IN ({marks})"  # noqa: S608
                f" AND {_FREE} AND a.registered_until > ?"
                f" ORDER BY {_IDLE_KEY}, a.key",
                (*keys, now, now),
            ).fetchall()
            position = self._position(db, call_ref)
            if position == 0 or position > len(free):
                return None
            agent = free[position - 1]
            db.execute(
                "UPDATE agents SET state = 'ringing', state_since = ?, current_call = ?"
                " WHERE key = ?",
                (now, call_ref, agent["key"]),
            )
            db.execute(
                "UPDATE queue SET state = 'ringing', agent = ? WHERE call_ref = ?",
                (agent["key"], call_ref),
            )
            cur = db.execute(
                "INSERT INTO offers (call_ref, agent, department, offered_at) VALUES (?, ?, ?, ?)",
                (call_ref, agent["key"], department, now),
            )
            return Offer(int(cur.lastrowid or 0), call_ref, agent["key"], agent["contact"])

    def offer_result(self, offer: Offer, result: OfferResult, now: float) -> None:
        """How the agent's phone answered the offer.

        ``answered``: the agent is busy with the call (the queue entry is answered).
        ``missed``: no answer in time — the agent is marked missed (paused when
        ``missed_pauses``) and the call waits again in its place. ``refused``: the agent
        pressed the refuse key — they are available again, behind the other idle agents,
        and the call waits again. ``failed``: the phone could not be reached (treated as
        missed, without the pause).
        """
        with self._tx() as db:
            db.execute(
                "UPDATE offers SET result = ?, answered_at = ? WHERE id = ?",
                (result, now if result == "answered" else None, offer.offer_id),
            )
            if result == "answered":
                db.execute(
                    "UPDATE agents SET state = 'busy', state_since = ? WHERE key = ?",
                    (now, offer.agent),
                )
                db.execute(
                    "UPDATE queue SET state = 'answered', answered_at = ? WHERE call_ref = ?",
                    (now, offer.call_ref),
                )
                return
            paused = result == "missed" and self.acd.missed_pauses
            db.execute(
                "UPDATE agents SET state = ?, state_since = ?, idle_since = ?,"
                " current_call = NULL, missed = missed + ? WHERE key = ?",
                (
                    "missed" if paused else "available",
                    now,
                    now,
                    1 if result in ("missed", "failed") else 0,
                    offer.agent,
                ),
            )
            db.execute(
                "UPDATE queue SET state = 'waiting', agent = NULL WHERE call_ref = ?"
                " AND state = 'ringing'",
                (offer.call_ref,),
            )

    def call_ended(self, offer: Offer, now: float) -> None:
        """The agent's call is over: wrap-up starts, their talk time is counted."""
        with self._tx() as db:
            row = db.execute(
                "SELECT answered_at FROM offers WHERE id = ?", (offer.offer_id,)
            ).fetchone()
            talk = max(0.0, now - row["answered_at"]) if row and row["answered_at"] else 0.0
            db.execute("UPDATE offers SET ended_at = ? WHERE id = ?", (now, offer.offer_id))
            db.execute(
                "UPDATE agents SET state = 'wrap_up', state_since = ?, wrap_until = ?,"
                " current_call = NULL, calls = calls + 1, talk_s = talk_s + ?"
                " WHERE key = ? AND state = 'busy'",
                (now, now + self.acd.wrap_up_s, talk, offer.agent),
            )
            db.execute("UPDATE queue SET ended_at = ? WHERE call_ref = ?", (now, offer.call_ref))

    def leave(self, call_ref: str, outcome: QueueOutcome, now: float) -> None:
        """A waiting call left the queue: the caller hung up (``abandoned``), chose to leave
        a message (``message``), or could not be served (``failed``)."""
        with self._tx() as db:
            db.execute(
                "UPDATE queue SET state = ?, ended_at = ? WHERE call_ref = ?"
                " AND state IN ('waiting', 'ringing')",
                (outcome, now, call_ref),
            )

    def expected_wait_s(self, call_ref: str, now: float) -> float:
        """A rough wait estimate for a waiting call: its position times the mean handle
        time (talk + wrap-up; the configured default before any call), shared by the
        department's staffed agents (registered and not paused)."""
        with self._tx() as db:
            me = db.execute(
                "SELECT department FROM queue WHERE call_ref = ?", (call_ref,)
            ).fetchone()
            if me is None:
                return 0.0
            position = self._position(db, call_ref)
            keys = [a.key for a in self.roster.for_department(me["department"])]
            marks = ",".join("?" * len(keys)) or "''"
            staffed = db.execute(
                f"SELECT COUNT(*) FROM agents WHERE key IN ({marks})"  # noqa: S608
                " AND registered_until > ? AND state NOT IN ('paused', 'missed', 'offline')",
                (*keys, now),
            ).fetchone()[0]
            talk = db.execute(
                "SELECT AVG(ended_at - answered_at) FROM offers WHERE department = ?"
                " AND ended_at IS NOT NULL AND answered_at IS NOT NULL",
                (me["department"],),
            ).fetchone()[0]
        handle = (
            (float(talk) + self.acd.wrap_up_s) if talk is not None else self.acd.default_handle_s
        )
        return position * handle / max(1, int(staffed))

    def history(
        self, since: float, until: float
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Queue entries that joined in [since, until) and their offers, as dicts."""
        with self._tx() as db:
            calls = db.execute(
                "SELECT * FROM queue WHERE joined_at >= ? AND joined_at < ?", (since, until)
            ).fetchall()
            offers = db.execute(
                "SELECT o.* FROM offers o JOIN queue q ON q.call_ref = o.call_ref"
                " WHERE q.joined_at >= ? AND q.joined_at < ?",
                (since, until),
            ).fetchall()
        return [dict(r) for r in calls], [dict(r) for r in offers]
