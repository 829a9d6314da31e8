"""What every action needs: the clock, the department config, the customer store, and the
hand-off protocol with the dialog bridge.

The bridge reads custom JSON messages ``{"voicebot": {...}}`` that follow the spoken text:
``handoff`` (put the caller through), ``message`` (a message was taken for a closed
department) and ``end`` (the conversation is over).
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from voicebot.customers import CustomerStore, demo_customers_wanted
from voicebot.departments import Departments, load_departments
from voicebot.events import HandoffReason
from voicebot.redaction import SECRET_SLOTS as REDACTION_SECRET_SLOTS

logger = logging.getLogger(__name__)

#: Slots that must never leave the action server in a hand-off or a log line (one list for
#: the whole project: voicebot.redaction).
SECRET_SLOTS = REDACTION_SECRET_SLOTS
#: Slots worth telling the agent who picks up.
SUMMARY_SLOTS = ("customer_name", "account_number", "identified", "postcode", "fault_type")

INTENT_TOPICS = {
    "billing_question": "a billing question",
    "check_balance": "their balance",
    "sales_inquiry": "a new product or upgrade",
    "move_house": "moving home",
    "cancel_contract": "cancelling their contract",
    "complain": "a complaint",
    "report_fault": "a fault",
    "escalate_specialist": "a fault level two could not fix",
    "check_order": "an order",
    "check_outage": "an outage",
    "request_human": "speaking to a person",
}


def now() -> datetime:
    """The current time, or ``$VOICEBOT_NOW`` (ISO 8601) when tests freeze the clock."""
    frozen = os.environ.get("VOICEBOT_NOW")
    if frozen:
        value = datetime.fromisoformat(frozen)
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.now(UTC)


@lru_cache(maxsize=1)
def departments() -> Departments:
    return load_departments()


_stores: dict[str, CustomerStore] = {}


def store() -> CustomerStore:
    """The customer store under the current ``VOICEBOT_VAR`` (opened once; the demo
    customers are seeded only for the demo and the tests: ``$VOICEBOT_DEMO_CUSTOMERS``)."""
    key = os.environ.get("VOICEBOT_VAR", "")
    if key not in _stores:
        _stores[key] = CustomerStore(seed=demo_customers_wanted())
        if _stores[key].count() == 0:
            logger.warning(
                "customer store %s is empty: nobody can be identified; import customers "
                "with 'voicebot customers import FILE.csv'",
                _stores[key].path,
            )
    return _stores[key]


def latest_intent(tracker: Tracker) -> str | None:
    intent = (tracker.latest_message or {}).get("intent") or {}
    name = intent.get("name")
    return str(name) if name else None


def user_intents(tracker: Tracker) -> list[str]:
    """Intents of the caller's turns in this session, oldest first."""
    out = []
    for event in tracker.events:
        if event.get("event") == "user":
            name = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            if name:
                out.append(str(name))
    return out


def summary(tracker: Tracker, department: str, reason: HandoffReason, intent: str | None) -> str:
    """One line for the agent who picks up, without secrets."""
    topic = INTENT_TOPICS.get(intent or "", "their request")
    who = tracker.get_slot("customer_name")
    account = tracker.get_slot("account_number")
    parts = [f"Caller about {topic}"]
    if who and tracker.get_slot("identified"):
        parts.append(f"identified as {who}, account {account}")
    elif account:
        parts.append(f"account {account} not verified")
    else:
        parts.append("not identified")
    for slot in ("postcode", "fault_type"):
        value = tracker.get_slot(slot)
        if value:
            parts.append(f"{slot.replace('_', ' ')} {value}")
    parts.append(f"reason {reason.value}, to {department}")
    return "; ".join(parts) + "."


def end_conversation(dispatcher: CollectingDispatcher) -> None:
    dispatcher.utter_message(json_message={"voicebot": {"type": "end"}})


def hand_off(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    department: str,
    reason: HandoffReason,
    *,
    intent: str | None = None,
    lead_in: str = "",
) -> list[EventType]:
    """Put the caller through to ``department``, or offer a message when it is closed.

    Open: speak, send the ``handoff`` message and ``end``. Closed: say so with the opening
    hours and ask whether the caller wants to leave a message (``message_offered``).
    """
    config = departments()
    dept = config.get(department)
    is_open = dept.is_open(now())
    intent = intent if intent is not None else latest_intent(tracker)
    events: list[EventType] = [
        # a hand-off ends whatever form was asking (e.g. "a person please" at the PIN)
        ActiveLoop(None),
        SlotSet("requested_slot", None),
        SlotSet("department", department),
        SlotSet("handoff_reason", reason.value),
    ]
    if not is_open:
        text = (
            f"{lead_in} I'd put you through to {dept.name}, but they're closed right now. "
            f"They're open {dept.describe_hours()}. "
            "Would you like to leave a message so they can call you back?"
        ).strip()
        dispatcher.utter_message(text=text)
        logger.info("department %s closed; offering a message (reason %s)", department, reason)
        return [
            *events,
            SlotSet("handoff_reason", HandoffReason.OUT_OF_HOURS.value),
            SlotSet("message_offered", True),
        ]
    dispatcher.utter_message(text=f"{lead_in} I'm putting you through to {dept.name} now.".strip())
    payload: dict[str, Any] = {
        "type": "handoff",
        "department": department,
        "reason": reason.value,
        "transfer_uri": dept.transfer_uri,
        "is_open": True,
        "intent": intent,
        "summary": summary(tracker, department, reason, intent),
    }
    dispatcher.utter_message(json_message={"voicebot": payload})
    end_conversation(dispatcher)
    logger.info("hand-off to %s (reason %s, intent %s)", department, reason, intent)
    return events
