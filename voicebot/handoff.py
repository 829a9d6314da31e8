"""Hand-off records: what an agent's screen shows when a caller is passed to a person.

Every decision to hand off writes one record (why, where, what was learned, the
conversation so far) as one JSON line to ``var/handoffs.jsonl``, flushed and fsynced
before the transfer starts, so nobody asks the caller to repeat themselves and nothing is
lost if the process dies right after. Secrets never reach the record: PIN and date of birth
are dropped, account numbers masked to their last 4 digits, and the caller's answers to
identification questions replaced by ``[redacted]``.
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from voicebot.errors import StoreError
from voicebot.events import Handoff
from voicebot.paths import var_dir

SECRET_SLOTS = frozenset({"pin", "date_of_birth", "dob"})
ACCOUNT_SLOTS = frozenset({"account_number"})
_DIGIT_RUN = re.compile(r"\d{6,}")


def mask_account(value: Any) -> str:
    """``12345678`` -> ``****5678``; anything shorter than 5 characters -> ``****``."""
    text = re.sub(r"\D", "", str(value))
    return "****" + text[-4:] if len(text) > 4 else "****"


def mask_digits(text: str) -> str:
    """Mask every run of 6+ digits in free text (account numbers said or typed)."""
    return _DIGIT_RUN.sub(lambda m: mask_account(m.group(0)), text)


def redact_slots(slots: dict[str, Any]) -> dict[str, Any]:
    """Slots safe to show and log: secrets dropped, account numbers masked, empties left out."""
    out: dict[str, Any] = {}
    for key, value in slots.items():
        if key in SECRET_SLOTS or value in (None, "", [], {}):
            continue
        if key in ACCOUNT_SLOTS:
            out[key] = mask_account(value)
        elif isinstance(value, str):
            out[key] = mask_digits(value)
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class Turn:
    """One line of the conversation: who spoke (``caller``/``bot``) and what."""

    speaker: str
    text: str


@dataclass(frozen=True)
class HandoffRecord:
    """Everything an agent needs to pick up the call without asking again."""

    call_id: str
    department: str
    reason: str
    transfer_uri: str
    is_open: bool
    intent: str | None
    slots: dict[str, Any]
    summary: str
    transcript: list[Turn]
    caller_id: str | None = None
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @classmethod
    def from_handoff(
        cls, call_id: str, handoff: Handoff, transcript: list[Turn], caller_id: str | None
    ) -> HandoffRecord:
        return cls(
            call_id=call_id,
            department=handoff.department,
            reason=str(handoff.reason),
            transfer_uri=handoff.transfer_uri,
            is_open=handoff.is_open,
            intent=handoff.intent,
            slots=redact_slots(handoff.slots),
            summary=mask_digits(handoff.summary),
            transcript=list(transcript),
            caller_id=caller_id,
        )

    def sip_headers(self) -> dict[str, str]:
        """Context for the agent's phone, as SIP headers on the transferred call."""
        customer = self.slots.get("customer_name") or self.slots.get("account_number")
        # never empty: some user agents drop a header without a value
        return {
            "X-Voicebot-Call-Id": self.call_id,
            "X-Voicebot-Intent": self.intent or "unknown",
            "X-Voicebot-Reason": self.reason,
            "X-Voicebot-Customer": str(customer or "unidentified"),
            "X-Voicebot-Summary": " ".join(self.summary.split())[:200] or "-",
        }


class HandoffLog:
    """Append-only JSONL file of hand-off records, durable on return of :meth:`write`."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or var_dir() / "handoffs.jsonl"
        self._lock = threading.Lock()

    def write(self, record: HandoffRecord) -> None:
        line = json.dumps(asdict(record), ensure_ascii=False) + "\n"
        try:
            with self._lock, open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise StoreError(f"cannot write hand-off record to {self.path}: {exc}") from exc

    def read_all(self) -> list[dict[str, Any]]:
        """All records, oldest first; a torn last line (crash mid-write) is skipped."""
        if not self.path.exists():
            return []
        records = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return records
