"""The outbound survey (dialogs/survey.yml): opening, consent, the campaign's questions,
the goodbye.

The campaign's script (:class:`voicebot.center.campaigns.questions.SurveyScript`) arrives
as JSON in the ``survey_script`` slot with the start intent. ``survey_form`` asks
``survey_consent``, then one answer slot per question (``survey_q1`` ..), and
``validate_survey_form`` types each answer (:mod:`voicebot.center.campaigns.answers`):
a sure answer is taken, an unsure one is read back first ("I heard seven, is that right?"),
no usable answer is asked again once, then the question is skipped. Each answer is reported
the moment it is taken, as a ``{"voicebot": {"type": "survey_answer", ...}}`` message, so
an answer given before a hang-up is never lost. "Call me later" (with or without a time)
and "don't call me again" end the form early; ``action_survey_end`` reports how it ended.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from voicebot.center.campaigns.answers import end_request, parse_answer, spoken_value
from voicebot.center.campaigns.callback_time import parse_when
from voicebot.center.campaigns.questions import Question, SurveyScript
from voicebot.yes_no import interpret as interpret_yes_no

from .common import end_conversation, latest_intent

logger = logging.getLogger(__name__)

MAX_QUESTIONS = 12
SKIPPED = "(no answer)"
#: NLU confidence from which call_later / opt_out end the survey without a keyword match
END_INTENT_TRUST = 0.7
GOODBYES = {
    "completed": "That's all my questions. Thank you very much for your time. Goodbye.",
    "refused": "No problem at all. Thank you, and goodbye.",
    "later": "Of course. We'll call you back then. Goodbye.",
    "opt_out": "Understood. We won't call you again. Sorry to have bothered you. Goodbye.",
}
ANSWER_SLOTS = tuple(f"survey_q{i}" for i in range(1, MAX_QUESTIONS + 1))


def script(tracker: Tracker) -> SurveyScript:
    raw = tracker.get_slot("survey_script")
    if not raw:
        return SurveyScript()
    try:
        return SurveyScript.from_json(str(raw))
    except (ValueError, KeyError, TypeError) as exc:
        logger.error("survey: unreadable script slot: %s", exc)
        return SurveyScript()


def report_answer(dispatcher: CollectingDispatcher, question: str, value: str) -> None:
    dispatcher.utter_message(
        json_message={"voicebot": {"type": "survey_answer", "question": question, "value": value}}
    )


def _end_asked(tracker: Tracker, text: str, sure_answer: bool) -> str | None:
    """``later``/``opt_out`` when the callee asked for it in this turn, else None."""
    asked = end_request(text)
    if asked is not None:
        return asked
    intent = latest_intent(tracker)
    confidence = float(((tracker.latest_message or {}).get("intent") or {}).get("confidence") or 0)
    if intent in ("call_later", "opt_out") and confidence >= END_INTENT_TRUST and not sure_answer:
        return "later" if intent == "call_later" else "opt_out"
    return None


def _ending(kind: str, text: str) -> dict[str, Any]:
    slots: dict[str, Any] = {"survey_outcome": kind, "survey_pending": None}
    if kind == "later" and parse_when(text, 0.0, "UTC") is not None:
        slots["survey_callback"] = text  # the time is in this turn: no need to ask
    return slots


class ActionSurveyStart(Action):
    """Says the opening and clears what an earlier survey in this conversation left."""

    def name(self) -> str:
        return "action_survey_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(text=script(tracker).opening)
        cleared = ["survey_outcome", "survey_pending", "survey_consent", "survey_callback"]
        return [SlotSet(s, None) for s in (*cleared, *ANSWER_SLOTS)] + [SlotSet("survey_tries", 0)]


class ActionAskSurveyConsent(Action):
    def name(self) -> str:
        return "action_ask_survey_consent"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        consent = script(tracker).consent
        if float(tracker.get_slot("survey_tries") or 0) > 0:
            consent = f"Sorry, was that a yes or a no? {consent}"
        dispatcher.utter_message(text=consent)
        return []


class ActionAskSurveyCallback(Action):
    def name(self) -> str:
        return "action_ask_survey_callback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(text="Of course. When would be a better time to call you back?")
        return []


class _AskQuestion(Action):
    index = 0

    def name(self) -> str:
        return f"action_ask_survey_q{self.index}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        survey = script(tracker)
        if self.index > len(survey.questions):
            return []
        question = survey.question(self.index)
        pending = _pending(tracker, f"survey_q{self.index}")
        if pending is not None:
            heard = spoken_value(question, pending)
            dispatcher.utter_message(text=f"I heard {heard}. Is that right?")
            return []
        if float(tracker.get_slot("survey_tries") or 0) > 0:
            hint = question.keypad_hint()
            dispatcher.utter_message(text=f"Sorry, I didn't catch that. {question.text} {hint}")
            return []
        lead = "Thank you. " if self.index == 1 else ""
        dispatcher.utter_message(text=f"{lead}{question.text}")
        return []


def _ask_action(index: int) -> type[_AskQuestion]:
    return type(f"ActionAskSurveyQ{index}", (_AskQuestion,), {"index": index})


ASK_ACTIONS = [_ask_action(i) for i in range(1, MAX_QUESTIONS + 1)]


def _pending(tracker: Tracker, slot: str) -> str | None:
    raw = tracker.get_slot("survey_pending")
    if not raw:
        return None
    try:
        data = json.loads(str(raw))
    except ValueError:
        return None
    return str(data["value"]) if data.get("slot") == slot else None


class ValidateSurveyForm(FormValidationAction):
    """Walks the campaign's questions and types, confirms and reports each answer."""

    def name(self) -> str:
        return "validate_survey_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        outcome = tracker.get_slot("survey_outcome")
        if outcome == "later":
            return ["survey_callback"]
        if outcome in ("refused", "opt_out"):
            return []
        count = min(len(script(tracker).questions), MAX_QUESTIONS)
        return ["survey_consent", *ANSWER_SLOTS[:count]]

    def validate_survey_consent(
        self,
        value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        text = str(value or "")
        said = interpret_yes_no(text)
        keyed = text.strip().rstrip("#")
        if keyed in ("1", "2"):
            said = "yes" if keyed == "1" else "no"
        ending = _end_asked(tracker, text, said == "yes")
        if ending is not None:
            return {"survey_consent": None, **_ending(ending, text)}
        if said == "yes":
            report_answer(dispatcher, "consent", "yes")
            return {"survey_consent": "yes", "survey_tries": 0}
        tries = float(tracker.get_slot("survey_tries") or 0) + 1
        if said == "no" or tries >= 2:
            if said == "no":
                report_answer(dispatcher, "consent", "no")
            return {"survey_consent": "no", "survey_outcome": "refused", "survey_tries": 0}
        return {"survey_consent": None, "survey_tries": tries}

    def validate_survey_callback(
        self,
        value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        # anything said is kept: the dialer reads the time (default: a day later)
        return {"survey_callback": str(value or "") or "later"}

    def _validate_answer(
        self, index: int, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        slot = f"survey_q{index}"
        survey = script(tracker)
        if index > len(survey.questions):
            return {slot: SKIPPED}
        question = survey.question(index)
        text = str(value or "")
        parsed = parse_answer(question, text)
        pending = _pending(tracker, slot)
        if pending is not None:
            said = interpret_yes_no(text)
            if said == "yes" and not parsed.sure:
                return self._take(question, slot, pending, dispatcher)
            if said == "no" and not parsed.sure:
                return self._unclear(slot, tracker, question)
        ending = _end_asked(tracker, text, parsed.sure)
        if ending is not None and question.type != "comment":
            return {slot: None, **_ending(ending, text)}
        if ending is not None and question.type == "comment" and len(text.split()) <= 8:
            return {slot: None, **_ending(ending, text)}
        if parsed.sure and parsed.value is not None:
            return self._take(question, slot, parsed.value, dispatcher)
        if parsed.certainty == "unsure" and parsed.value is not None:
            return {
                slot: None,
                "survey_pending": json.dumps({"slot": slot, "value": parsed.value}),
            }
        return self._unclear(slot, tracker, question)

    def _take(
        self, question: Question, slot: str, value: str, dispatcher: CollectingDispatcher
    ) -> dict[str, Any]:
        report_answer(dispatcher, question.id, value)
        return {slot: value, "survey_pending": None, "survey_tries": 0}

    def _unclear(self, slot: str, tracker: Tracker, question: Question) -> dict[str, Any]:
        tries = float(tracker.get_slot("survey_tries") or 0) + 1
        if tries >= 2:  # asked again once already: go on to the next question
            logger.info("survey: no usable answer to %s, skipped", question.id)
            return {slot: SKIPPED, "survey_pending": None, "survey_tries": 0}
        return {slot: None, "survey_pending": None, "survey_tries": tries}


def _validator(index: int) -> Any:
    def validate(
        self: ValidateSurveyForm,
        value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        return self._validate_answer(index, value, dispatcher, tracker)

    return validate


for _i in range(1, MAX_QUESTIONS + 1):
    setattr(ValidateSurveyForm, f"validate_survey_q{_i}", _validator(_i))


class ActionSurveyEnd(Action):
    """Says goodbye for how the survey ended, reports it and ends the call."""

    def name(self) -> str:
        return "action_survey_end"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        outcome = str(tracker.get_slot("survey_outcome") or "completed")
        callback = tracker.get_slot("survey_callback")
        dispatcher.utter_message(text=GOODBYES.get(outcome, GOODBYES["completed"]))
        dispatcher.utter_message(
            json_message={
                "voicebot": {
                    "type": "survey_end",
                    "outcome": outcome,
                    "callback": str(callback) if callback else None,
                }
            }
        )
        end_conversation(dispatcher)
        return [SlotSet("survey_outcome", outcome)]
