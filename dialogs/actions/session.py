"""Conversation actions: session start (greeting, caller ID), goodbye, repeat, the request
to rephrase (with the keypad menu) after a misunderstanding, and the hand-off after two
misunderstandings in a row."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import (
    ActionExecuted,
    EventType,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
)
from rasa_sdk.executor import CollectingDispatcher

from voicebot.events import HandoffReason

from .common import departments, end_conversation, hand_off, store

logger = logging.getLogger(__name__)

GREETING = (
    "Hello, thanks for calling Brightline Energy and Telecom. I'm the automated assistant. "
    "How can I help you today?"
)


class ActionSessionStart(Action):
    """Greets the caller; a known caller ID pre-fills the account number (not the identity).

    Rasa runs this twice when a call starts with ``/session_start`` (once for the new
    tracker, once for the intent): the metadata is kept in its slot across the two runs
    and the greeting is said only once.
    """

    def name(self) -> str:
        return "action_session_start"

    @staticmethod
    def _already_greeted(tracker: Tracker) -> bool:
        for event in reversed(tracker.events):
            kind = event.get("event")
            if kind == "bot":
                return event.get("text") == GREETING
            if kind == "user":
                intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
                if intent != "session_start":
                    return False
        return False

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        events: list[EventType] = [SessionStarted()]
        metadata = tracker.get_slot("session_started_metadata") or {}
        if isinstance(metadata, dict) and metadata:
            events.append(SlotSet("session_started_metadata", metadata))
        caller_id = metadata.get("caller_id") if isinstance(metadata, dict) else None
        if caller_id:
            events.append(SlotSet("caller_id", str(caller_id)))
            customer = store().by_caller_id(str(caller_id))
            if customer is not None:
                # the number only suggests the account: the caller still gives a second factor
                events.append(SlotSet("account_number", customer.account_number))
                events.append(SlotSet("caller_known", True))
                logger.info("caller ID matches an account; account number pre-filled")
        if not self._already_greeted(tracker):
            dispatcher.utter_message(text=GREETING)
        events.append(ActionExecuted("action_listen"))
        return events


class ActionGoodbye(Action):
    def name(self) -> str:
        return "action_goodbye"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(text="Thanks for calling Brightline. Goodbye!")
        end_conversation(dispatcher)
        return []


class ActionRepeat(Action):
    """Says the bot's previous answer again and puts the dialog back where it was."""

    def name(self) -> str:
        return "action_repeat"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        texts: list[str] = []
        seen_current_user = False
        for event in reversed(tracker.events):
            kind = event.get("event")
            if kind == "user":
                if seen_current_user:
                    break
                seen_current_user = True
            elif kind == "bot" and seen_current_user and event.get("text"):
                texts.append(str(event["text"]))
        if not texts:
            dispatcher.utter_message(text="I haven't said anything yet. How can I help you?")
            return []
        for text in reversed(texts):
            dispatcher.utter_message(text=text)
        # forget the "repeat" turn so the dialog continues as if it had not happened
        return [UserUtteranceReverted()]


REPHRASE = "Sorry, I didn't quite catch that. Could you say it another way?"
REPHRASE_EXAMPLES = "For example, you can ask about your bill, an outage, an order, or a fault."


class ActionRephrase(Action):
    """After a misunderstanding: ask the caller to say it again, and offer the keypad menu
    of the department file (a noisy line or an accent the recogniser misses need not end
    with a person). Tells the bridge the menu is on offer (``{"voicebot": {"type": "menu"}}``).
    """

    def name(self) -> str:
        return "action_rephrase"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        prompt = departments().menu_prompt()
        if not prompt:
            dispatcher.utter_message(text=f"{REPHRASE} {REPHRASE_EXAMPLES}")
            return []
        dispatcher.utter_message(text=f"{REPHRASE} Or on your keypad, {prompt}.")
        dispatcher.utter_message(json_message={"voicebot": {"type": "menu"}})
        return []


class ActionHandoffNotUnderstood(Action):
    def name(self) -> str:
        return "action_handoff_not_understood"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        return hand_off(
            dispatcher,
            tracker,
            "customer_service",
            HandoffReason.NOT_UNDERSTOOD,
            intent=None,
            lead_in="Sorry, I'm still not getting it.",
        )
