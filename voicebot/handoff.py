"""Hand-off records: what an agent's screen shows when a caller is passed to a person.

Every decision to hand off writes one record (why, where, what was learned, the
conversation so far) as one JSON line to ``var/handoffs.jsonl``, flushed and fsynced
before the transfer starts, so nobody asks the caller to repeat themselves and nothing is
lost if the process dies right after. Secrets never reach the record: PIN and date of birth
are dropped, account numbers masked to their last 4 digits, and the caller's answers to
identification questions replaced by ``[redacted]`` (the rules: :mod:`voicebot.redaction`).

The record is keyed by the internal call ID and an opaque per-hand-off ``reference``; the
SIP Call-ID is kept as data (``sip_call_id``). The SIP headers on the transferred call carry
the reference and a masked name (``Alice M.``), never the customer's full name.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from voicebot.errors import StoreError
from voicebot.events import Handoff
from voicebot.paths import var_dir
from voicebot.redaction import (
    SECRET_SLOTS,
    mask_account,
    mask_digits,
    mask_name,
    mask_names_in,
    redact_slots,
)

__all__ = [
    "SECRET_SLOTS",
    "HandoffLog",
    "HandoffRecord",
    "Turn",
    "mask_account",
    "mask_digits",
    "redact_slots",
]


def new_reference() -> str:
    """An opaque reference for one hand-off (``h-`` + 12 hex digits): what the agent's phone
    gets instead of who the customer is; it finds the record in ``handoffs.jsonl``."""
    return f"h-{secrets.token_hex(6)}"


def _header(text: str, limit: int = 200) -> str:
    """A SIP header value: one line of printable text (a caller's words cannot add headers)."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat[:limit] or "-"


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
    sip_call_id: str | None = None
    """The SIP Call-ID as the caller sent it (data only), None off SIP."""
    reference: str = field(default_factory=new_reference)
    """Opaque reference of this hand-off, sent to the agent's phone."""

    @classmethod
    def from_handoff(
        cls,
        call_id: str,
        handoff: Handoff,
        transcript: list[Turn],
        caller_id: str | None,
        sip_call_id: str | None = None,
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
            sip_call_id=sip_call_id,
        )

    def sip_headers(self) -> dict[str, str]:
        """Context for the agent's phone, as SIP headers on the transferred call.

        ``X-Voicebot-Customer`` is ``ref=<reference>; name=<masked name>`` (``unidentified``
        when nobody was identified), plus ``; account=****1234`` when an account number was
        given; the summary's names are masked the same way. Never empty: some user agents
        drop a header without a value.
        """
        name = self.slots.get("customer_name")
        customer = [f"ref={self.reference}", f"name={mask_name(name) or 'unidentified'}"]
        account = str(self.slots.get("account_number") or "")
        if account:  # masked already in the record's slots; masked again if not
            customer.append(
                f"account={account if account.startswith('****') else mask_account(account)}"
            )
        return {
            "X-Voicebot-Call-Id": self.call_id,
            "X-Voicebot-Intent": _header(self.intent or "unknown"),
            "X-Voicebot-Reason": _header(self.reason),
            "X-Voicebot-Customer": _header("; ".join(customer)),
            "X-Voicebot-Summary": _header(mask_names_in(mask_digits(self.summary), name)),
        }


class HandoffLog:
    """Append-only JSONL file of hand-off records, durable on return of :meth:`append_record`."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or var_dir() / "handoffs.jsonl"
        self._lock = threading.Lock()

    def append_record(self, record: HandoffRecord) -> None:
        """Append ``record``; durable when this returns. Only the hand-off desk
        (:mod:`voicebot.center.handoff_desk`) calls it."""
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
