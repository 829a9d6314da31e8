"""What the ACD says: to a waiting caller (position, expected wait, the message option) and,
as a whisper, to the agent before the caller is joined (what the call is about).

Pure text builders; the line speaks them with the bot's voice. The whisper carries no
secret (no PIN, date of birth or full account number): it is built from the hand-off
record, which is redacted already.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MESSAGE_KEY = "1"
"""Keypad key a waiting caller presses to leave a message instead."""

REFUSE_KEY = "*"
"""Keypad key an agent presses during the whisper to refuse the call (back to the queue)."""

_ORDINAL_WORDS = ("first", "second", "third", "fourth", "fifth")


def spoken_wait(wait_s: float) -> str:
    """``wait_s`` (s) as a spoken, rounded duration: "less than a minute", "about 4 minutes"."""
    if wait_s < 60:
        return "less than a minute"
    minutes = round(wait_s / 60)
    if minutes >= 60:
        hours = round(minutes / 60, 1)
        return "about an hour" if hours <= 1.2 else f"about {hours:g} hours"
    if minutes > 10:
        minutes = int(5 * round(minutes / 5))
    return "about 1 minute" if minutes == 1 else f"about {minutes} minutes"


def queue_announcement(position: int, wait_s: float, *, first: bool) -> str:
    """The sentence a waiting caller hears (position 1 = next)."""
    if position <= len(_ORDINAL_WORDS):
        where = f"You are {_ORDINAL_WORDS[position - 1]} in the queue"
    else:
        where = f"You are number {position} in the queue"
    opening = "All our colleagues are busy at the moment. " if first else ""
    return (
        f"{opening}{where}, and the expected wait is {spoken_wait(wait_s)}. "
        f"To leave a message instead, press {MESSAGE_KEY} or say message."
    )


def message_offer() -> str:
    """Said once the caller has waited the maximum time."""
    return (
        "I'm sorry you have been waiting so long. You can keep holding, or press "
        f"{MESSAGE_KEY} or say message to leave a message, and we will call you back."
    )


def whisper_text(department: str, record: Mapping[str, Any]) -> str:
    """One short sentence for the agent, from a (redacted) hand-off record.

    "Billing. Verified customer Alice M. Says: I was charged twice." The record's fields:
    ``slots`` (``customer_name``, ``verified``), ``summary``, ``intent``, ``reason``.
    """
    slots = record.get("slots") or {}
    name = slots.get("customer_name")
    verified = bool(slots.get("verified"))
    if name and "verified" not in slots:  # not known (e.g. from the SIP context headers)
        who = f"Customer {str(name).rstrip('.')}."
    elif name:
        who = f"{'Verified' if verified else 'Unverified'} customer {str(name).rstrip('.')}."
    else:
        who = "Caller not identified."
    summary = " ".join(str(record.get("summary") or "").split())
    if not summary and record.get("intent"):
        summary = str(record["intent"]).replace("_", " ")
    about = f" {summary.rstrip('.')}." if summary else ""
    reason = str(record.get("reason") or "")
    why = {
        "requested": " Asked for a person.",
        "upset": " The caller sounds upset.",
        "not_understood": " The bot did not understand the request.",
        "technical_error": " The bot had a technical problem.",
    }.get(reason, "")
    return f"{department.replace('_', ' ').capitalize()}. {who}{about}{why}"
