"""Routing callers to departments, and taking a message when a department is closed."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from voicebot.events import HandoffReason

from .common import departments, end_conversation, hand_off, latest_intent, user_intents

logger = logging.getLogger(__name__)

#: intent -> (department, reason, what the bot says first)
ROUTES: dict[str, tuple[str, HandoffReason, str]] = {
    "billing_question": ("billing", HandoffReason.ROUTED, "Our billing team can help with that."),
    "sales_inquiry": ("sales", HandoffReason.ROUTED, "Our sales team can help you with that."),
    "move_house": (
        "contracts",
        HandoffReason.ROUTED,
        "The contracts team looks after moving home.",
    ),
    "cancel_contract": (
        "contracts",
        HandoffReason.ROUTED,
        "The contracts team handles cancellations.",
    ),
    "complain": (
        "complaints",
        HandoffReason.UPSET,
        "I'm sorry you've had a bad experience. I want to get this sorted for you.",
    ),
    "escalate_specialist": (
        "support_l3",
        HandoffReason.ROUTED,
        "As technical support has already worked on this, I'll take you to our specialists.",
    ),
}

#: the department for a topic the caller raised before asking for a person
TOPIC_DEPARTMENTS = {
    "billing_question": "billing",
    "check_balance": "billing",
    "report_fault": "support_l2",
    "escalate_specialist": "support_l3",
    "sales_inquiry": "sales",
    "move_house": "contracts",
    "cancel_contract": "contracts",
    "complain": "complaints",
}


#: a route recognised with less NLU confidence than this is confirmed with the caller first
#: (wrong intents among the held-out phrasings scored 0.31-0.50, e.g. "money went out of my
#: account" -> cancel_contract 0.27; the routes in the replay suite scored 0.92-0.99, and
#: "can i talk to someone about my bill" -> billing 0.56)
ROUTE_CONFIRM_BELOW = 0.5


def latest_confidence(tracker: Tracker) -> float:
    """NLU confidence (0..1) of the caller's latest intent."""
    intent = (tracker.latest_message or {}).get("intent") or {}
    return float(intent.get("confidence") or 0.0)


def caller_topic(tracker: Tracker) -> str | None:
    """The latest topic the caller raised before this turn, skipping one they said no to
    right after ("...customer relations?" "No, that's wrong": a misheard topic)."""
    earlier = user_intents(tracker)[:-1]
    for i in range(len(earlier) - 1, -1, -1):
        declined = i + 1 < len(earlier) and earlier[i + 1] == "deny"
        if earlier[i] in TOPIC_DEPARTMENTS and not declined:
            return earlier[i]
    return None


def department_for_request_human(tracker: Tracker) -> str:
    """The department named in the request, else the one of the caller's latest topic."""
    config = departments()
    named = next(tracker.get_latest_entity_values("department"), None)
    if named in config.departments:
        return str(named)
    topic = caller_topic(tracker)
    return TOPIC_DEPARTMENTS[topic] if topic else config.default


class ActionRoute(Action):
    """Hands the caller to the department their request belongs to."""

    def name(self) -> str:
        return "action_route"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        intent = latest_intent(tracker)
        if intent in ROUTES:
            department, reason, lead_in = ROUTES[intent]
            if latest_confidence(tracker) < ROUTE_CONFIRM_BELOW:
                # not sure: a transfer to the wrong team costs the caller more than a question
                name = departments().get(department).name
                dispatcher.utter_message(
                    text=f"Just to check: would you like me to put you through to {name}?"
                )
                return [SlotSet("route_pending", True), SlotSet("route_intent", intent)]
            return hand_off(dispatcher, tracker, department, reason, intent=intent, lead_in=lead_in)
        department = department_for_request_human(tracker)
        topic = caller_topic(tracker)
        return hand_off(
            dispatcher,
            tracker,
            department,
            HandoffReason.REQUESTED,
            intent=topic or intent,
            lead_in="Of course.",
        )


class ActionRouteAnswer(Action):
    """The caller's yes or no to "shall I put you through to ...?" after a doubtful route."""

    def name(self) -> str:
        return "action_route_answer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        pending = str(tracker.get_slot("route_intent") or "")
        cleared: list[EventType] = [SlotSet("route_pending", False), SlotSet("route_intent", None)]
        if latest_intent(tracker) != "affirm" or pending not in ROUTES:
            dispatcher.utter_message(text="Sorry about that. What can I help you with?")
            return cleared
        department, reason, lead_in = ROUTES[pending]
        return cleared + hand_off(
            dispatcher, tracker, department, reason, intent=pending, lead_in=lead_in
        )


class ActionTakeMessage(Action):
    def name(self) -> str:
        return "action_take_message"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        key = str(tracker.get_slot("department") or departments().default)
        dept = departments().get(key)
        text = str(tracker.get_slot("message_text") or "").strip()
        dispatcher.utter_message(
            text=f"Thank you, I've passed your message to {dept.name}. "
            "They'll call you back as soon as they're open. Goodbye!"
        )
        dispatcher.utter_message(
            json_message={
                "voicebot": {
                    "type": "message",
                    "department": key,
                    "reason": HandoffReason.OUT_OF_HOURS.value,
                    "text": text,
                }
            }
        )
        end_conversation(dispatcher)
        logger.info("message taken for %s (%d characters)", key, len(text))
        return [SlotSet("message_offered", False), SlotSet("message_text", None)]


class ActionDeclineMessage(Action):
    def name(self) -> str:
        return "action_decline_message"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(
            text="No problem. You're welcome to call back when they're open. "
            "Is there anything else I can help with?"
        )
        return [SlotSet("message_offered", False)]
