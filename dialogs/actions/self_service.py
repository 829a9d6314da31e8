"""First-level answers: opening hours, outage status for a postcode, troubleshooting a
fault, and the escalation to technical support when troubleshooting did not help."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from voicebot.events import HandoffReason
from voicebot.postcodes import parse_postcode

from .common import departments, hand_off, latest_intent, now, store

logger = logging.getLogger(__name__)

MAX_POSTCODE_ATTEMPTS = 2

#: Known outages by outward code (the part of the postcode before the space).
OUTAGES: dict[str, str] = {
    "SW1A": (
        "there's a power cut affecting your area. Our engineers are on site and expect "
        "to have the power back on by 9 pm tonight"
    ),
    "M1": (
        "there's a broadband fault at your local exchange. We expect it to be fixed by "
        "10 am tomorrow"
    ),
    "LS6": (
        "there's planned maintenance on phone lines in your area on Wednesday night, "
        "between midnight and 4 am. Your service should work normally outside those hours"
    ),
}

#: Spoken troubleshooting steps per fault type, each ending with a yes/no question.
TROUBLESHOOTING: dict[str, str] = {
    "internet": (
        "Let's try a quick fix. Switch your router off at the wall, wait thirty seconds, "
        "and switch it back on. Give it two minutes until the lights are steady, then try "
        "again. Is your internet working now?"
    ),
    "power": (
        "First, please check your fuse box. If a switch has tripped, turn off your "
        "appliances, push the switch back up, then turn them on one at a time. If your "
        "neighbours have no power either, it's likely a power cut. Is your power back on?"
    ),
    "phone_line": (
        "Please unplug every phone and filter from your sockets, then plug one phone "
        "straight into the main socket and listen for a dial tone. Is your phone line "
        "working now?"
    ),
    "tv": (
        "Switch your TV box off at the wall for thirty seconds, turn it back on, and check "
        "the cable into the back of the box is pushed in firmly. Is your TV working now?"
    ),
}
_FAULT_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("internet", ("internet", "broadband", "wifi", "wi fi", "wi-fi", "router", "web", "fibre")),
    ("phone_line", ("phone", "landline", "line", "dial tone")),
    ("tv", ("tv", "telly", "television", "channel", "box", "picture")),
    ("power", ("power", "electric", "lights", "fuse", "meter")),
)
FAULT_NAMES = {"internet": "internet", "power": "power", "phone_line": "phone line", "tv": "TV"}


def normalise_fault(value: Any) -> str | None:
    """The fault type (internet, power, phone_line, tv) a caller's words name, or None."""
    text = str(value or "").lower().replace("_", " ")
    if text.replace(" ", "_") in TROUBLESHOOTING:
        return text.replace(" ", "_")
    for fault, words in _FAULT_WORDS:
        if any(word in text.split() or (" " in word and word in text) for word in words):
            return fault
    return None


class ActionOpeningHours(Action):
    def name(self) -> str:
        return "action_opening_hours"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        config = departments()
        key = next(tracker.get_latest_entity_values("department"), None)
        key = key if key in config.departments else None
        dept = config.get(key or config.default)
        open_now = "open now" if dept.is_open(now()) else "closed right now"
        if key:
            text = f"{dept.name.capitalize()} is open {dept.describe_hours()}. They're {open_now}."
        else:
            support = config.get("support_l2")
            text = (
                f"Our phone lines are open {dept.describe_hours()}, and we're {open_now}. "
                f"Technical support is available {support.describe_hours()}."
            )
        dispatcher.utter_message(text=text + " Is there anything else I can help with?")
        return []


class ValidateOutageForm(FormValidationAction):
    def name(self) -> str:
        return "validate_outage_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[str]:
        if int(tracker.get_slot("postcode_attempts") or 0) >= MAX_POSTCODE_ATTEMPTS:
            return []
        return domain_slots

    async def extract_postcode(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        """A postcode spelled out in the request itself ("power cut at s w one a one a a")."""
        if tracker.get_slot("postcode") or tracker.get_slot("requested_slot") == "postcode":
            return {}
        found = parse_postcode(str((tracker.latest_message or {}).get("text") or ""))
        return {"postcode": found} if found else {}

    def validate_postcode(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        postcode = parse_postcode(str(value or ""))
        if postcode:
            return {"postcode": postcode}
        if latest_intent(tracker) in ("repeat", "help"):
            return {"postcode": None}  # asked again, no attempt lost
        attempts = int(tracker.get_slot("postcode_attempts") or 0) + 1
        if attempts < MAX_POSTCODE_ATTEMPTS:
            dispatcher.utter_message(
                text="Sorry, I didn't get a full postcode. Please say it letter by letter, "
                "for example S W one A, one A A."
            )
        return {"postcode": None, "postcode_attempts": float(attempts)}


class ActionCheckOutage(Action):
    def name(self) -> str:
        return "action_check_outage"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        postcode = tracker.get_slot("postcode")
        reset = [SlotSet("postcode_attempts", 0.0)]
        if not postcode:
            dispatcher.utter_message(
                text="I'm sorry, I couldn't get your postcode. You can also check outages on "
                "brightline dot example. Is there anything else I can help with?"
            )
            return reset
        outward = str(postcode).split()[0]
        spoken = ", ".join(" ".join(part) for part in str(postcode).split())
        status = OUTAGES.get(outward)
        if status:
            text = f"Thanks. For {spoken}, {status}. Sorry for the trouble."
        else:
            text = f"Good news: I can't see any known outages for {spoken} right now."
            text += " If something isn't working, I can help you troubleshoot."
        dispatcher.utter_message(text=text + " Is there anything else I can help with?")
        return reset


class ValidateTroubleshootForm(FormValidationAction):
    def name(self) -> str:
        return "validate_troubleshoot_form"

    def validate_fault_type(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        fault = normalise_fault(value)
        if fault:
            return {"fault_type": fault}
        if tracker.get_slot("requested_slot") == "fault_type":
            dispatcher.utter_message(text="Sorry, I didn't catch which service.")
        return {"fault_type": None}


class ActionTroubleshoot(Action):
    def name(self) -> str:
        return "action_troubleshoot"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        fault = normalise_fault(tracker.get_slot("fault_type")) or "internet"
        dispatcher.utter_message(text=TROUBLESHOOTING[fault])
        return [SlotSet("fault_type", fault)]


class ActionEscalateFault(Action):
    """Troubleshooting did not help: level 2, or level 3 when level 2 already has it."""

    def name(self) -> str:
        return "action_escalate_fault"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        fault = normalise_fault(tracker.get_slot("fault_type"))
        account = tracker.get_slot("account_number")
        level2 = departments().get("support_l2")
        tickets = []
        if tracker.get_slot("identified") and account and fault:
            tickets = [t for t in store().open_tickets(str(account), fault) if t.level >= 2]
        if tickets and level2.escalates_to:
            name = FAULT_NAMES.get(fault or "", "this fault")
            return hand_off(
                dispatcher,
                tracker,
                level2.escalates_to,
                HandoffReason.ROUTED,
                intent="report_fault",
                lead_in=f"I can see technical support already has an open ticket for your "
                f"{name}, so I'll take you straight to the specialists.",
            )
        return hand_off(
            dispatcher,
            tracker,
            "support_l2",
            HandoffReason.ROUTED,
            intent="report_fault",
            lead_in="Sorry that didn't fix it.",
        )
