"""Identifying the caller (account number plus PIN or date of birth) and the personal
answers that need it: balance, next bill, order status.

The PIN and date of birth are read from the caller's words by ``voicebot.numbers``,
checked against the customer store and cleared from the slots at once; they are never
logged. Three failed attempts hand the caller to customer service.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from voicebot.customers import Customer
from voicebot.events import HandoffReason
from voicebot.numbers import extract_number, parse_date_of_birth

from .common import hand_off, latest_intent, store
from .speech import spoken_date, spoken_money

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
_NO_PIN = re.compile(
    r"\b(birth|born|birthday|don'?t have|do not have|forgot|forgotten|don'?t know|no pin|"
    r"can'?t remember)\b"
)
_CLEARED = {"pin": None, "date_of_birth": None}
#: intents that mean the caller did not try to answer (the question is asked again)
NOT_AN_ANSWER = frozenset({"repeat", "help"})


class ValidateIdentificationForm(FormValidationAction):
    def name(self) -> str:
        return "validate_identification_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[str]:
        if tracker.get_slot("identified") or tracker.get_slot("identification_failed"):
            return []
        if tracker.get_slot("second_factor") == "date_of_birth":
            return ["account_number", "date_of_birth"]
        return ["account_number", "pin"]

    def _failure(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, text: str, *, keep_account: bool
    ) -> dict[str, Any]:
        if latest_intent(tracker) in NOT_AN_ANSWER:
            # "sorry, say that again": the form asks the same question again, no attempt lost
            requested = tracker.get_slot("requested_slot")
            return {str(requested): None} if requested else dict(_CLEARED)
        attempts = int(tracker.get_slot("id_attempts") or 0) + 1
        logger.info("identification attempt %d failed", attempts)
        result: dict[str, Any] = {**_CLEARED, "id_attempts": float(attempts)}
        if attempts >= MAX_ATTEMPTS:
            dispatcher.utter_message(text="I'm sorry, I couldn't confirm your identity.")
            result["identification_failed"] = True
            return result
        dispatcher.utter_message(text=text)
        if not keep_account:
            result["account_number"] = None
            result["second_factor"] = None
        return result

    def validate_account_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        digits = extract_number(str(value or ""), 8)
        if digits:
            return {"account_number": digits}
        return self._failure(
            dispatcher,
            tracker,
            "Sorry, I didn't get an eight digit account number. "
            "You'll find it at the top of your bill.",
            keep_account=False,
        )

    def _check(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        *,
        pin: str | None = None,
        dob: Any = None,
    ) -> dict[str, Any]:
        account = str(tracker.get_slot("account_number") or "")
        customer = store().verify(account, pin=pin, date_of_birth=dob)
        if customer is None:
            caller_id = tracker.get_slot("caller_id")
            known = store().by_caller_id(caller_id) if caller_id else None
            keep = known is not None and known.account_number == account
            return self._failure(
                dispatcher,
                tracker,
                "Sorry, those details don't match our records. Let's try again.",
                keep_account=keep,
            )
        first_name = customer.name.split()[0]
        dispatcher.utter_message(text=f"Thank you, {first_name}, that's you confirmed.")
        logger.info("caller identified")
        return {
            **_CLEARED,
            "identified": True,
            "customer_name": customer.name,
            "id_attempts": 0.0,
            "second_factor": None,
        }

    def validate_pin(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        text = str(value or "").lower()
        # a date first: "fifth of may nineteen seventy five" also holds four digits
        dob = parse_date_of_birth(text)
        if dob:
            return self._check(dispatcher, tracker, dob=dob)
        pin = extract_number(text, 4)
        if pin:
            return self._check(dispatcher, tracker, pin=pin)
        if _NO_PIN.search(text):
            return {**_CLEARED, "second_factor": "date_of_birth"}
        return self._failure(
            dispatcher,
            tracker,
            "Sorry, I didn't catch that. Please say your four digit PIN, or your date of birth.",
            keep_account=True,
        )

    def validate_date_of_birth(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        dob = parse_date_of_birth(str(value or ""))
        if dob:
            return self._check(dispatcher, tracker, dob=dob)
        return self._failure(
            dispatcher,
            tracker,
            "Sorry, I didn't catch that date. Please say it like the twelfth of March, "
            "nineteen eighty.",
            keep_account=True,
        )


def _identified_customer(
    dispatcher: CollectingDispatcher, tracker: Tracker
) -> tuple[Customer | None, list[EventType]]:
    """The verified customer, or the hand-off events when identification failed."""
    account = tracker.get_slot("account_number")
    if tracker.get_slot("identified") and account:
        customer = store().customer(str(account))
        if customer is not None:
            return customer, []
    pending = tracker.get_slot("pending_request")
    return None, hand_off(
        dispatcher,
        tracker,
        "customer_service",
        HandoffReason.IDENTIFICATION_FAILED,
        intent={"balance": "check_balance", "order": "check_order"}.get(str(pending)),
        lead_in="A colleague can check your details with you.",
    )


class ActionCheckBalance(Action):
    def name(self) -> str:
        return "action_check_balance"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        customer, events = _identified_customer(dispatcher, tracker)
        if customer is None:
            return events
        if customer.balance_pence > 0:
            balance = f"Your balance is {spoken_money(customer.balance_pence)} to pay."
        elif customer.balance_pence < 0:
            balance = f"You're in credit by {spoken_money(customer.balance_pence)}."
        else:
            balance = "Your account is fully paid up, with nothing to pay right now."
        if customer.next_bill_date and customer.next_bill_pence is not None:
            bill = (
                f" Your next bill, for about {spoken_money(customer.next_bill_pence)}, "
                f"is due on {spoken_date(customer.next_bill_date)}."
            )
        else:
            bill = ""
        dispatcher.utter_message(text=f"{balance}{bill} Is there anything else I can help with?")
        return []


_ORDER_STATUS = {
    "processing": "is being prepared. We'll text you as soon as it has a delivery date",
    "dispatched": "has been dispatched and should arrive on {date}",
    "scheduled": "is booked in for {date}",
    "delivered": "was delivered on {date}",
}


class ActionCheckOrder(Action):
    def name(self) -> str:
        return "action_check_order"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        customer, events = _identified_customer(dispatcher, tracker)
        if customer is None:
            return events
        orders = store().orders(customer.account_number)
        if not orders:
            dispatcher.utter_message(
                text="I can't see any orders on your account. "
                "Is there anything else I can help with?"
            )
            return []
        sentences = []
        for order in orders[:3]:
            template = _ORDER_STATUS.get(order.status, "has the status " + order.status)
            when = (
                spoken_date(order.delivery_date)
                if order.delivery_date
                else "a date to be confirmed"
            )
            sentences.append(f"Your order for {order.description} {template.format(date=when)}.")
        dispatcher.utter_message(
            text=" ".join(sentences) + " Is there anything else I can help with?"
        )
        return []
