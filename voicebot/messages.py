"""Messages callers leave when a department is closed or a transfer fails.

Stored in SQLite (``var/messages.sqlite3``) in WAL mode with ``synchronous=FULL``: when
:meth:`MessageStore.add_message` returns, the message is on disk and survives the process dying
right after. Each message keeps the caller ID, the department, the text (transcript), the
conversation so far and, on the phone line, the path of the caller's recording.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from voicebot.errors import StoreError
from voicebot.handoff import Turn
from voicebot.paths import var_dir
from voicebot.redaction import mask_digits

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    call_id TEXT NOT NULL,
    caller_id TEXT,
    department TEXT NOT NULL,
    reason TEXT NOT NULL,
    text TEXT NOT NULL,
    transcript TEXT NOT NULL,
    recording_path TEXT,
    sip_call_id TEXT
)
"""


@dataclass(frozen=True)
class StoredMessage:
    id: int
    created_at: str
    call_id: str
    caller_id: str | None
    department: str
    reason: str
    text: str
    transcript: list[Turn]
    recording_path: str | None
    sip_call_id: str | None = None


class MessageStore:
    """Durable store of caller messages (thread-safe; one connection per store)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or var_dir() / "messages.sqlite3"
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)
            columns = {r[1] for r in self._db.execute("PRAGMA table_info(messages)")}
            if "sip_call_id" not in columns:  # a store made before the column existed
                self._db.execute("ALTER TABLE messages ADD COLUMN sip_call_id TEXT")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"message store {self.path} cannot be opened: {exc}") from exc

    def add_message(
        self,
        *,
        call_id: str,
        department: str,
        reason: str,
        text: str,
        transcript: list[Turn],
        caller_id: str | None = None,
        recording_path: str | None = None,
        sip_call_id: str | None = None,
    ) -> int:
        """Store one message; returns its id once it is committed to disk. Only the
        hand-off desk (:mod:`voicebot.center.handoff_desk`) calls it.

        ``call_id`` is the internal call ID; ``sip_call_id`` the SIP Call-ID (data only)."""
        row = (
            datetime.now(UTC).isoformat(),
            call_id,
            caller_id,
            department,
            reason,
            mask_digits(text),
            json.dumps([t.__dict__ for t in transcript], ensure_ascii=False),
            recording_path,
            sip_call_id,
        )
        try:
            with self._lock:
                cur = self._db.execute(
                    "INSERT INTO messages (created_at, call_id, caller_id, department, reason,"
                    " text, transcript, recording_path, sip_call_id)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
                return int(cur.lastrowid or 0)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot store message in {self.path}: {exc}") from exc

    def all(self) -> list[StoredMessage]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, created_at, call_id, caller_id, department, reason, text,"
                " transcript, recording_path, sip_call_id FROM messages ORDER BY id"
            ).fetchall()
        return [
            StoredMessage(
                id=r[0],
                created_at=r[1],
                call_id=r[2],
                caller_id=r[3],
                department=r[4],
                reason=r[5],
                text=r[6],
                transcript=[Turn(**t) for t in json.loads(r[7])],
                recording_path=r[8],
                sip_call_id=r[9],
            )
            for r in rows
        ]

    def close(self) -> None:
        with self._lock:
            self._db.close()
