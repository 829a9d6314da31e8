"""What may be shown of a caller's data, in one place: every record, header, message, log
line and transcript that leaves a call goes through these rules.

* :data:`SECRET_SLOTS` (PIN, date of birth, the message being dictated) are never shown.
* :data:`IDENTIFICATION_SLOTS`: while the dialog asks for one of these, the caller's answer
  is replaced by ``[redacted]`` in transcripts.
* Account numbers are masked to their last 4 digits (``****5678``), in slots and wherever a
  run of 6 or more digits appears in free text.
* Names leaving the building (SIP headers to the PBX) are masked to the first name and an
  initial (``Alice M.``); the hand-off record on the agent's screen keeps the full name.
"""

from __future__ import annotations

import re
from typing import Any

SECRET_SLOTS = frozenset({"pin", "date_of_birth", "dob", "message_text"})
"""Slots never shown anywhere (records, headers, logs)."""
IDENTIFICATION_SLOTS = frozenset({"account_number", "pin", "date_of_birth"})
"""Slots whose spoken answers are replaced by ``[redacted]`` in transcripts."""
ACCOUNT_SLOTS = frozenset({"account_number"})
"""Slots shown masked to their last 4 digits."""
NAME_SLOTS = frozenset({"customer_name"})
"""Slots holding a person's name."""
REDACTED = "[redacted]"

_DIGIT_RUN = re.compile(r"\d{6,}")


def mask_account(value: Any) -> str:
    """``12345678`` -> ``****5678``; anything shorter than 5 digits -> ``****``."""
    text = re.sub(r"\D", "", str(value))
    return "****" + text[-4:] if len(text) > 4 else "****"


def mask_digits(text: str) -> str:
    """Mask every run of 6+ digits in free text (account numbers said or typed)."""
    return _DIGIT_RUN.sub(lambda m: mask_account(m.group(0)), text)


def mask_name(name: Any) -> str:
    """``Alice Morgan`` -> ``Alice M.``; one word -> its initial (``A.``); empty -> ``""``."""
    words = str(name or "").split()
    if not words:
        return ""
    if len(words) == 1:
        return words[0][0].upper() + "."
    return f"{words[0]} {words[-1][0].upper()}."


def mask_names_in(text: str, name: Any) -> str:
    """``text`` with the full ``name`` (and its last name) replaced by :func:`mask_name`."""
    words = str(name or "").split()
    if not words:
        return text
    out = text.replace(" ".join(words), mask_name(name))
    if len(words) > 1 and len(words[-1]) > 1:
        out = re.sub(rf"\b{re.escape(words[-1])}\b", words[-1][0].upper() + ".", out)
    return out


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


def redact_answer(text: str, requested_slot: str | None) -> str:
    """The caller's turn as a transcript shows it: ``[redacted]`` when it answers an
    identification question, else with long digit runs masked."""
    if requested_slot in IDENTIFICATION_SLOTS:
        return REDACTED
    return mask_digits(text)


def for_log(text: Any) -> str:
    """A value safe for a log line: digit runs masked, line breaks flattened (a caller's text
    cannot forge log lines), at most 200 characters."""
    flat = " ".join(str(text).split())
    return mask_digits(flat)[:200]
