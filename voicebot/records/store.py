"""The call-record database: SQLite (WAL) under ``var/`` by default, PostgreSQL by URL.

:class:`RecordStore` wraps one SQLAlchemy engine. Opening it brings the schema to the newest
Alembic revision (``migrations/``), so a new release upgrades an old database in place.
Writes come from the recorder's writer thread (:mod:`voicebot.records.recorder`), reads
from the dashboard; every database failure is a :class:`~voicebot.errors.StoreError`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from voicebot.config import Settings, section_to
from voicebot.errors import StoreError
from voicebot.paths import var_dir
from voicebot.records.schema import calls, message_marks, stats_days, turns

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


@dataclass(frozen=True)
class RecordsConfig:
    """The ``records`` settings section."""

    enabled: bool = True
    url: str = ""
    """SQLAlchemy URL; "" = SQLite at ``var/records.sqlite3``."""
    retention_days: int = 0
    """Records and recordings older than this many days are deleted; 0 = kept for ever."""
    recording: bool = False
    """Record every call in stereo (caller left, bot right) under ``var/<recordings_dir>``."""
    recordings_dir: str = "call-recordings"
    stale_after_s: float = 1800.0
    """A call still "live" this long after its last update was cut off by a crash: it is
    closed with the outcome ``error``, s."""


def records_config(settings: Settings) -> RecordsConfig:
    return section_to(RecordsConfig, settings, "records")


def utcnow() -> datetime:
    """Now as a naive UTC datetime (how every time is stored)."""
    return datetime.now(UTC).replace(tzinfo=None)


def default_url() -> str:
    return f"sqlite:///{var_dir() / 'records.sqlite3'}"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys."""
    try:
        if url.startswith("sqlite"):
            engine = sa.create_engine(
                url, future=True, connect_args={"check_same_thread": False, "timeout": 10}
            )

            @sa.event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()

            return engine
        return sa.create_engine(url, future=True, pool_pre_ping=True)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise StoreError(f"call records database URL {_safe(url)} cannot be used: {exc}") from exc


def _safe(url: str) -> str:
    """The URL with its password hidden (for messages)."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is shown as given, minus nothing
        return "<invalid URL>"


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` (several processes may race: retried)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if logging.getLogger("alembic").level == logging.NOTSET:
        logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per plugin otherwise
    for attempt in range(5):
        try:
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
            return
        except SQLAlchemyError as exc:
            if attempt == 4:
                raise StoreError(f"cannot migrate the call records database: {exc}") from exc
            time.sleep(0.2 * (attempt + 1))  # another process was creating the same tables


def schema_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _loads(value: str | None) -> Any:
    return None if not value else json.loads(value)


class RecordStore:
    """Call records in one database (thread-safe: SQLAlchemy pools the connections)."""

    def __init__(self, url: str | None = None, *, upgrade: bool = True) -> None:
        self.url = url or default_url()
        self.engine = make_engine(self.url)
        if upgrade:
            migrate(self.engine)

    @classmethod
    def from_settings(cls, settings: Settings) -> RecordStore:
        return cls(records_config(settings).url or None)

    @property
    def backend(self) -> str:
        return str(self.engine.dialect.name)

    @contextmanager
    def _tx(self, what: str) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"call records: cannot {what}: {exc}") from exc

    @contextmanager
    def _read(self, what: str) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"call records: cannot {what}: {exc}") from exc

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ writing

    def write(
        self,
        call_id: str,
        *,
        start: dict[str, Any] | None = None,
        call: dict[str, Any] | None = None,
        turn_rows: Sequence[dict[str, Any]] = (),
    ) -> None:
        """One transaction: create the call (``start``), update its fields (``call``) and
        insert or replace turns (``turn_rows``, keyed by ``idx``)."""
        with self._tx(f"write call {call_id}") as conn:
            if start is not None:
                row = {"status": "live", "turn_count": 0, "direction": "inbound", **start}
                row.setdefault("updated_at", utcnow())
                conn.execute(sa.insert(calls).values(id=call_id, **row))
            for t in turn_rows:
                values = {k: v for k, v in t.items() if k != "idx"}
                done = conn.execute(
                    sa.update(turns)
                    .where(turns.c.call_id == call_id, turns.c.idx == t["idx"])
                    .values(**values)
                )
                if done.rowcount == 0:
                    conn.execute(sa.insert(turns).values(call_id=call_id, **t))
            if call:
                values = dict(call)
                values.setdefault("updated_at", utcnow())
                conn.execute(sa.update(calls).where(calls.c.id == call_id).values(**values))

    def close_stale(self, older_than_s: float) -> int:
        """Close calls left "live" by a crash (no update for ``older_than_s``): outcome
        ``error``. Returns how many."""
        cutoff = datetime.fromtimestamp(time.time() - older_than_s, UTC).replace(tzinfo=None)
        with self._tx("close stale calls") as conn:
            res = conn.execute(
                sa.update(calls)
                .where(calls.c.status == "live", calls.c.updated_at < cutoff)
                .values(
                    status="ended",
                    outcome="error",
                    doing=None,
                    errors=_dumps(["record-stale: the call's record stopped mid-call"]),
                )
            )
            return int(res.rowcount or 0)

    def delete_before(self, cutoff: datetime) -> list[str | None]:
        """Delete ended calls (and their turns) started before ``cutoff``; returns one
        recording path (or None) per deleted call, so the caller can delete the files."""
        with self._tx("delete old records") as conn:
            old = sa.select(calls.c.id, calls.c.recording_path).where(
                calls.c.started_at < cutoff, calls.c.status == "ended"
            )
            rows = conn.execute(old).all()
            ids = [r[0] for r in rows]
            conn.execute(sa.delete(stats_days).where(stats_days.c.day < cutoff.date().isoformat()))
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                conn.execute(sa.delete(turns).where(turns.c.call_id.in_(chunk)))
                conn.execute(sa.delete(calls).where(calls.c.id.in_(chunk)))
            return [r[1] for r in rows]

    def mark_message(self, message_id: int, department: str, state: str, by: str) -> None:
        """Append a mark (``done`` or ``open``) to a message: who and when; never deletes."""
        with self._tx(f"mark message {message_id}") as conn:
            conn.execute(
                sa.insert(message_marks).values(
                    message_id=message_id,
                    department=department,
                    state=state,
                    marked_by=by,
                    marked_at=utcnow(),
                )
            )

    # ------------------------------------------------------------------ reading

    def live_calls(self) -> list[dict[str, Any]]:
        with self._read("read live calls") as conn:
            rows = conn.execute(
                sa.select(calls).where(calls.c.status == "live").order_by(calls.c.started_at)
            ).mappings()
            return [dict(r) for r in rows]

    def get_call(self, call_id: str) -> dict[str, Any] | None:
        with self._read(f"read call {call_id}") as conn:
            row = conn.execute(sa.select(calls).where(calls.c.id == call_id)).mappings().first()
            if row is None:
                return None
            out = dict(row)
            out["handoff"] = _loads(out["handoff"])
            out["errors"] = _loads(out["errors"]) or []
            return out

    def find_call(self, reference: str) -> dict[str, Any] | None:
        """A call by its internal ID or its SIP Call-ID (the reference in SIP headers)."""
        found = self.get_call(reference)
        if found is not None:
            return found
        with self._read("find call") as conn:
            row = conn.execute(
                sa.select(calls.c.id)
                .where(calls.c.sip_call_id == reference)
                .order_by(calls.c.started_at.desc())
            ).first()
        return self.get_call(row[0]) if row else None

    def call_turns(self, call_id: str) -> list[dict[str, Any]]:
        with self._read(f"read turns of {call_id}") as conn:
            rows = conn.execute(
                sa.select(turns).where(turns.c.call_id == call_id).order_by(turns.c.idx)
            ).mappings()
            out = []
            for r in rows:
                d = dict(r)
                d["bot"] = _loads(d["bot"]) or []
                out.append(d)
            return out

    def list_calls(
        self,
        start: datetime,
        end: datetime,
        *,
        department: str | None = None,
        limit: int | None = 200,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Calls started in [start, end), newest first."""
        q = sa.select(calls).where(calls.c.started_at >= start, calls.c.started_at < end)
        if department:
            q = q.where(calls.c.department == department)
        q = q.order_by(calls.c.started_at.desc()).offset(offset)
        if limit is not None:
            q = q.limit(limit)
        with self._read("list calls") as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def handoffs(
        self, department: str | None, since: datetime, limit: int = 20
    ) -> list[dict[str, Any]]:
        """Calls handed to ``department`` (all when None) since ``since``, newest first,
        with their hand-off record."""
        q = sa.select(calls).where(calls.c.handoff.is_not(None), calls.c.started_at >= since)
        if department:
            q = q.where(calls.c.department == department)
        q = q.order_by(calls.c.updated_at.desc()).limit(limit)
        with self._read("read hand-offs") as conn:
            out = []
            for r in conn.execute(q).mappings():
                d = dict(r)
                d["handoff"] = _loads(d["handoff"])
                out.append(d)
            return out

    def review_turns(
        self,
        start: datetime,
        end: datetime,
        below: float,
        not_understood: Sequence[str],
        limit: int = 2000,
    ) -> list[dict[str, Any]]:
        """Caller speech turns the dialog did not understand (intent missing or in
        ``not_understood``) or understood with confidence below ``below``."""
        c = turns.c
        q = (
            sa.select(
                c.id,
                c.call_id,
                c.idx,
                c.heard,
                c.intent,
                c.intent_confidence,
                c.asr_confidence,
                c.call_started_at,
            )  # fmt: skip
            .where(
                c.call_started_at >= start,
                c.call_started_at < end,
                c.redacted == 0,
                c.source != "dtmf",
                sa.or_(
                    c.intent.is_(None),
                    c.intent.in_(list(not_understood)),
                    c.intent_confidence < below,
                ),
            )
            .order_by(c.call_started_at.desc())
            .limit(limit)
        )
        with self._read("read review turns") as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def turns_by_id(self, ids: Sequence[int]) -> list[dict[str, Any]]:
        with self._read("read turns") as conn:
            q = sa.select(turns).where(turns.c.id.in_(list(ids)), turns.c.redacted == 0)
            return [dict(r) for r in conn.execute(q.order_by(turns.c.id)).mappings()]

    def message_marks(self) -> dict[int, dict[str, Any]]:
        """The latest mark of every marked message: ``{message_id: {state, by, at}}``."""
        with self._read("read message marks") as conn:
            rows = conn.execute(sa.select(message_marks).order_by(message_marks.c.id)).mappings()
            out: dict[int, dict[str, Any]] = {}
            for r in rows:
                out[int(r["message_id"])] = {
                    "state": r["state"],
                    "by": r["marked_by"],
                    "at": r["marked_at"],
                }
            return out

    def rollups(self, days: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Stored daily aggregates (see :mod:`voicebot.records.stats`) by YYYY-MM-DD."""
        with self._read("read daily statistics") as conn:
            rows = conn.execute(
                sa.select(stats_days.c.day, stats_days.c.payload).where(
                    stats_days.c.day.in_(list(days))
                )
            ).all()
        return {r[0]: json.loads(r[1]) for r in rows}

    def put_rollup(self, day: str, payload: dict[str, Any]) -> None:
        with self._tx(f"store daily statistics of {day}") as conn:
            conn.execute(sa.delete(stats_days).where(stats_days.c.day == day))
            conn.execute(
                sa.insert(stats_days).values(
                    day=day, payload=json.dumps(payload), computed_at=utcnow()
                )
            )

    def has_live_calls(self, start: datetime, end: datetime) -> bool:
        with self._read("read live calls") as conn:
            q = sa.select(calls.c.id).where(
                calls.c.status == "live", calls.c.started_at >= start, calls.c.started_at < end
            )
            return conn.execute(q.limit(1)).first() is not None

    def count_calls(self) -> int:
        with self._read("count calls") as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(calls)).scalar_one())
