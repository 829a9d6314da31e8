"""Durable state of outbound campaigns: contacts, every attempt, every answer, the
do-not-call list.

One SQLite database in WAL mode (``var/campaigns.sqlite3``). The rules that make a crash or
a restart safe:

* an attempt is written (``dialing``, the contact ``in_call``) and committed *before* the
  call is placed;
* an answer is committed the moment the callee gives it, so a callee who hangs up
  mid-survey keeps the answers given so far;
* on start, :meth:`CampaignStore.recover` turns attempts left ``dialing`` by a crash into
  ``interrupted`` and their contacts into ``done``: such a contact may have been reached, so
  it is never called again automatically ("never called twice"); its answers are kept;
* the do-not-call list is checked inside the same transaction that starts an attempt.

Times are seconds since the epoch (UTC).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from voicebot.center.campaigns.contacts import Contact
from voicebot.center.campaigns.spec import CampaignSpec
from voicebot.errors import DataError, StateError, StoreError

CallResult = Literal["answered", "busy", "no_answer", "failed", "machine"]
CampaignState = Literal["ready", "running", "paused", "done"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS campaigns (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'ready',
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS contacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign TEXT NOT NULL REFERENCES campaigns (name),
    row INTEGER NOT NULL,
    phone TEXT NOT NULL,
    name TEXT NOT NULL,
    timezone TEXT NOT NULL,
    language TEXT NOT NULL,
    fields TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL DEFAULT 0,
    last_result TEXT,
    UNIQUE (campaign, phone)
);
CREATE INDEX IF NOT EXISTS contacts_due ON contacts (campaign, state, next_at);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign TEXT NOT NULL,
    contact_id INTEGER NOT NULL REFERENCES contacts (id),
    started_at REAL NOT NULL,
    ended_at REAL,
    result TEXT NOT NULL DEFAULT 'dialing',
    detail TEXT
);
CREATE INDEX IF NOT EXISTS attempts_contact ON attempts (contact_id);
CREATE TABLE IF NOT EXISTS answers (
    contact_id INTEGER NOT NULL REFERENCES contacts (id),
    attempt_id INTEGER NOT NULL REFERENCES attempts (id),
    question TEXT NOT NULL,
    value TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (contact_id, question)
);
CREATE TABLE IF NOT EXISTS dnc (
    phone TEXT PRIMARY KEY,
    added_at REAL NOT NULL,
    source TEXT NOT NULL
);
"""

# contact states: pending (due at next_at), in_call, done (finished: completed, machine,
# interrupted, opted out, or out of tries), callback (pending again at the booked time),
# dnc (on the do-not-call list, never called)


@dataclass(frozen=True)
class DueContact:
    """A contact the dialer may call now, with the attempt opened for it."""

    attempt_id: int
    contact_id: int
    phone: str
    name: str
    timezone: str
    language: str
    fields: dict[str, str]
    attempt_no: int


def paused_error(name: str) -> StateError:
    """What ``voicebot campaign start`` says of a paused campaign: a supervisor paused it,
    so only ``resume`` (a deliberate act) lets it call again."""
    return StateError(
        f"campaign {name} is paused; `voicebot campaign resume {name}` resumes it",
        hint=f"then `voicebot campaign start {name}` dials",
    )


class CampaignStore:
    """The campaigns database (see the module docstring)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with sqlite3.connect(self.path, timeout=10.0) as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the campaign database {self.path}: {exc}") from exc

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction on this store's connection (WAL, synchronous=NORMAL: a
        committed transaction survives a crash of the process)."""
        with self._lock:
            try:
                if self._db is None:
                    self._db = sqlite3.connect(
                        self.path, timeout=10.0, isolation_level=None, check_same_thread=False
                    )
                    self._db.row_factory = sqlite3.Row
                    self._db.execute("PRAGMA synchronous=NORMAL")
                db = self._db
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"campaign database {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # ------------------------------------------------------------------ campaigns

    def import_campaign(self, spec: CampaignSpec, contacts: list[Contact], now: float) -> int:
        """Create campaign ``spec`` with ``contacts`` (all or nothing); returns how many
        contacts it holds. Importing the same name again adds only new phone numbers (the
        file may grow); the campaign's settings are replaced by the new file's."""
        with self._tx() as db:
            row = db.execute("SELECT state FROM campaigns WHERE name = ?", (spec.name,)).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO campaigns (name, spec, created_at) VALUES (?, ?, ?)",
                    (spec.name, json.dumps(spec.as_dict()), now),
                )
            else:
                db.execute(
                    "UPDATE campaigns SET spec = ? WHERE name = ?",
                    (json.dumps(spec.as_dict()), spec.name),
                )
            db.executemany(
                "INSERT OR IGNORE INTO contacts (campaign, row, phone, name, timezone, language,"
                " fields) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        spec.name,
                        c.row,
                        c.phone,
                        c.name,
                        c.timezone,
                        c.language,
                        json.dumps(c.fields, ensure_ascii=False),
                    )
                    for c in contacts
                ],
            )
            return int(
                db.execute(
                    "SELECT COUNT(*) FROM contacts WHERE campaign = ?", (spec.name,)
                ).fetchone()[0]
            )

    def spec(self, name: str) -> CampaignSpec:
        with self._tx() as db:
            row = db.execute("SELECT spec FROM campaigns WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise DataError(f"no campaign '{name}'", hint="import it: voicebot campaign import")
        return CampaignSpec.from_dict(json.loads(row["spec"]))

    def begin_run(self, name: str) -> None:
        """Mark campaign ``name`` ``running`` for a dialer that starts now, in one
        transaction with the check: a paused campaign stays paused (:func:`paused_error`)."""
        self.spec(name)
        with self._tx() as db:
            changed = db.execute(
                "UPDATE campaigns SET state = 'running' WHERE name = ? AND state != 'paused'",
                (name,),
            ).rowcount
        if not changed:
            raise paused_error(name)

    def set_state(self, name: str, state: CampaignState) -> None:
        self.spec(name)
        with self._tx() as db:
            db.execute("UPDATE campaigns SET state = ? WHERE name = ?", (state, name))

    def state(self, name: str) -> CampaignState:
        with self._tx() as db:
            row = db.execute("SELECT state FROM campaigns WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise DataError(f"no campaign '{name}'")
        return row["state"]

    def campaigns(self) -> list[str]:
        with self._tx() as db:
            return [r["name"] for r in db.execute("SELECT name FROM campaigns ORDER BY name")]

    # ------------------------------------------------------------------ do-not-call

    def add_dnc(self, phone: str, source: str, now: float) -> None:
        """Never call ``phone`` again (any campaign); pending contacts with it become dnc."""
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO dnc (phone, added_at, source) VALUES (?, ?, ?)",
                (phone, now, source),
            )
            db.execute(
                "UPDATE contacts SET state = 'dnc' WHERE phone = ? AND state IN"
                " ('pending', 'callback')",
                (phone,),
            )

    def is_dnc(self, phone: str) -> bool:
        with self._tx() as db:
            return db.execute("SELECT 1 FROM dnc WHERE phone = ?", (phone,)).fetchone() is not None

    # ------------------------------------------------------------------ the dialer's moves

    def recover(self, name: str, now: float) -> int:
        """After a crash: attempts left ``dialing`` become ``interrupted`` and their contacts
        ``done`` (they may have been reached: never called again). Returns how many."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT id, contact_id FROM attempts WHERE campaign = ? AND result = 'dialing'",
                (name,),
            ).fetchall()
            for r in rows:
                db.execute(
                    "UPDATE attempts SET result = 'interrupted', ended_at = ? WHERE id = ?",
                    (now, r["id"]),
                )
                db.execute(
                    "UPDATE contacts SET state = 'done', last_result = 'interrupted' WHERE id = ?",
                    (r["contact_id"],),
                )
            return len(rows)

    def interrupt(self, attempt_id: int, now: float, detail: str) -> None:
        """A call whose end is unknown (its dialer process died): like :meth:`recover`, the
        attempt is ``interrupted`` and the contact ``done`` (never called again)."""
        with self._tx() as db:
            a = db.execute("SELECT contact_id FROM attempts WHERE id = ?", (attempt_id,)).fetchone()
            if a is None:
                raise StoreError(f"no attempt {attempt_id}")
            db.execute(
                "UPDATE attempts SET result = 'interrupted', ended_at = ?, detail = ? WHERE id = ?",
                (now, detail[:200], attempt_id),
            )
            db.execute(
                "UPDATE contacts SET state = 'done', last_result = 'interrupted' WHERE id = ?",
                (a["contact_id"],),
            )

    def candidates(self, name: str, now: float, limit: int = 50) -> list[sqlite3.Row]:
        """Contacts due now (pending or a booked callback), oldest due first."""
        with self._tx() as db:
            return db.execute(
                "SELECT id, phone, timezone FROM contacts WHERE campaign = ?"
                " AND state IN ('pending', 'callback') AND next_at <= ?"
                " ORDER BY next_at, id LIMIT ?",
                (name, now, limit),
            ).fetchall()

    def next_due_at(self, name: str) -> float | None:
        """When the next waiting contact (retry, callback, postponed) is due; None if none."""
        with self._tx() as db:
            row = db.execute(
                "SELECT MIN(next_at) FROM contacts WHERE campaign = ?"
                " AND state IN ('pending', 'callback')",
                (name,),
            ).fetchone()
        return None if row[0] is None else float(row[0])

    def postpone(self, contact_id: int, until: float) -> None:
        """Outside the calling window: due again at ``until``."""
        with self._tx() as db:
            db.execute("UPDATE contacts SET next_at = ? WHERE id = ?", (until, contact_id))

    def begin_attempt(self, contact_id: int, now: float) -> DueContact | None:
        """Open an attempt for a due contact (committed before the call is placed); None if
        the contact is no longer due or its number is on the do-not-call list."""
        with self._tx() as db:
            c = db.execute("SELECT * FROM contacts WHERE id = ?", (contact_id,)).fetchone()
            if c is None or c["state"] not in ("pending", "callback") or c["next_at"] > now:
                return None
            if db.execute("SELECT 1 FROM dnc WHERE phone = ?", (c["phone"],)).fetchone():
                db.execute("UPDATE contacts SET state = 'dnc' WHERE id = ?", (contact_id,))
                return None
            cur = db.execute(
                "INSERT INTO attempts (campaign, contact_id, started_at) VALUES (?, ?, ?)",
                (c["campaign"], contact_id, now),
            )
            db.execute(
                "UPDATE contacts SET state = 'in_call', attempts = attempts + 1 WHERE id = ?",
                (contact_id,),
            )
            return DueContact(
                attempt_id=int(cur.lastrowid or 0),
                contact_id=contact_id,
                phone=c["phone"],
                name=c["name"],
                timezone=c["timezone"],
                language=c["language"],
                fields=json.loads(c["fields"]),
                attempt_no=int(c["attempts"]) + 1,
            )

    def record_answer(self, attempt_id: int, question: str, value: str, now: float) -> None:
        """One answer, committed at once (a later answer to the same question replaces it)."""
        with self._tx() as db:
            row = db.execute(
                "SELECT contact_id FROM attempts WHERE id = ?", (attempt_id,)
            ).fetchone()
            if row is None:
                raise StoreError(f"no attempt {attempt_id}")
            db.execute(
                "INSERT OR REPLACE INTO answers (contact_id, attempt_id, question, value, at)"
                " VALUES (?, ?, ?, ?, ?)",
                (row["contact_id"], attempt_id, question, value, now),
            )

    def end_attempt(
        self,
        spec: CampaignSpec,
        attempt_id: int,
        result: CallResult,
        now: float,
        *,
        detail: str = "",
        callback_at: float | None = None,
        opted_out: bool = False,
    ) -> str:
        """Close an attempt and decide the contact's next state; returns that state.

        ``answered``: done (or ``callback`` at ``callback_at``; or ``dnc`` when the callee
        asked never to be called again). ``machine``: done, unless the campaign retries
        machines. ``busy``/``no_answer``/``failed``: pending again after the campaign's
        delay, while retries of that kind and ``max_attempts`` allow; else done.
        """
        with self._tx() as db:
            a = db.execute("SELECT * FROM attempts WHERE id = ?", (attempt_id,)).fetchone()
            if a is None:
                raise StoreError(f"no attempt {attempt_id}")
            c = db.execute("SELECT * FROM contacts WHERE id = ?", (a["contact_id"],)).fetchone()
            booked = (
                result == "answered"
                and callback_at is not None
                and not opted_out
                and c["attempts"] < spec.max_attempts
            )
            if booked:
                detail = f"{detail}; callback booked".lstrip("; ")
            db.execute(
                "UPDATE attempts SET result = ?, ended_at = ?, detail = ? WHERE id = ?",
                (result, now, detail, attempt_id),
            )
            next_at = c["next_at"]
            if opted_out:
                db.execute(
                    "INSERT OR IGNORE INTO dnc (phone, added_at, source) VALUES (?, ?, ?)",
                    (c["phone"], now, f"campaign {spec.name}"),
                )
                state = "dnc"
            elif result == "answered":
                # a booked callback is one more attempt: only while attempts are left
                state = "callback" if booked else "done"
                next_at = callback_at if booked else next_at
            else:
                rule = spec.retry(result)
                tries = db.execute(
                    "SELECT COUNT(*) FROM attempts WHERE contact_id = ? AND result = ?",
                    (c["id"], result),
                ).fetchone()[0]
                if tries <= rule.max and c["attempts"] < spec.max_attempts:
                    state, next_at = "pending", now + rule.delay_s
                else:
                    state = "done"
            db.execute(
                "UPDATE contacts SET state = ?, next_at = ?, last_result = ? WHERE id = ?",
                (state, next_at, "opted_out" if opted_out else result, c["id"]),
            )
            return state

    # ------------------------------------------------------------------ reading

    def counts(self, name: str) -> dict[str, int]:
        """Contacts by state, and attempts by result."""
        with self._tx() as db:
            out = {
                f"contacts_{r[0]}": int(r[1])
                for r in db.execute(
                    "SELECT state, COUNT(*) FROM contacts WHERE campaign = ? GROUP BY state",
                    (name,),
                )
            }
            out.update(
                {
                    f"attempts_{r[0]}": int(r[1])
                    for r in db.execute(
                        "SELECT result, COUNT(*) FROM attempts WHERE campaign = ? GROUP BY result",
                        (name,),
                    )
                }
            )
        return out

    def rows(self, name: str) -> tuple[list[dict[str, Any]], list[str]]:
        """One dict per contact (state, attempts, results, answers), and the question keys."""
        with self._tx() as db:
            contacts = db.execute(
                "SELECT * FROM contacts WHERE campaign = ? ORDER BY row", (name,)
            ).fetchall()
            answers = db.execute(
                "SELECT a.contact_id, a.question, a.value FROM answers a JOIN contacts c"
                " ON c.id = a.contact_id WHERE c.campaign = ?",
                (name,),
            ).fetchall()
            attempts = db.execute(
                "SELECT contact_id, result FROM attempts WHERE campaign = ? ORDER BY id",
                (name,),
            ).fetchall()
        by_contact: dict[int, dict[str, str]] = {}
        questions: list[str] = []
        for a in answers:
            by_contact.setdefault(a["contact_id"], {})[a["question"]] = a["value"]
            if a["question"] not in questions:
                questions.append(a["question"])
        results: dict[int, list[str]] = {}
        for a in attempts:
            results.setdefault(a["contact_id"], []).append(a["result"])
        out = []
        for c in contacts:
            out.append(
                {
                    "row": c["row"],
                    "phone": c["phone"],
                    "name": c["name"],
                    "timezone": c["timezone"],
                    "language": c["language"],
                    "state": c["state"],
                    "attempts": c["attempts"],
                    "results": results.get(c["id"], []),
                    "last_result": c["last_result"] or "",
                    "answers": by_contact.get(c["id"], {}),
                    "fields": json.loads(c["fields"]),
                }
            )
        return out, questions


def next_window_start(spec: CampaignSpec, after: float, timezone: str) -> float:
    """The first moment at or after ``after`` (epoch s) inside the calling window in
    ``timezone`` (to the minute); ``after`` itself when inside; +7 days if never."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(timezone)
    start = datetime.fromtimestamp(after, UTC).astimezone(zone)
    if spec.in_window(start, timezone):
        return after
    day = start.replace(second=0, microsecond=0)
    for offset in range(8):
        date = (day + timedelta(days=offset)).date()
        for begin, _end in spec.hours.get(date.weekday(), ()):
            local = datetime(date.year, date.month, date.day, tzinfo=zone) + timedelta(
                minutes=begin
            )
            if local.timestamp() >= after:
                return local.timestamp()
    return after + 7 * 86400
