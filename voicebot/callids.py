"""Internal call IDs: the only name a call's files, keys and records ever get.

The SIP Call-ID is chosen by the caller: it may hold ``/``, ``..``, quotes or any other
punctuation, so it is never used as a file name, a dialog conversation key or a log key.
Each call gets an internal ID where it enters (the SIP line, the simulated line of
``voicebot call``/``replay``, the text chat); the SIP Call-ID is kept only as data
(:attr:`~voicebot.telephony.callio.CallDetails.sip_call_id`, the hand-off record, the
message store).

An internal ID is ``c-`` + UTC time (``YYYYmmddTHHMMSS``) + ``-`` + 12 random hex digits:
sortable by start time, unique, and made only of ``[a-z0-9T-]``.
"""

from __future__ import annotations

import re
import secrets
import time

_FORM = re.compile(r"^c-\d{8}T\d{6}-[0-9a-f]{12}$")


def new_call_id() -> str:
    """A fresh internal call ID (see the module docstring)."""
    return f"c-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{secrets.token_hex(6)}"


def is_call_id(value: str) -> bool:
    """Whether ``value`` has the form of an internal call ID."""
    return bool(_FORM.match(value))
