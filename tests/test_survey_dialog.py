"""The survey dialog by text, on the real trained Rasa model and the real action server:
consent, typed answers, keypad answers, an unclear answer read back and confirmed, one
reprompt then the next question, a refusal, "call me later" (with and without a time) and
"don't call me again"; each answer is reported the moment it is taken."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest

from voicebot.center.campaigns.questions import SurveyScript
from voicebot.center.campaigns.spec import load_campaign
from voicebot.dialog.bridge import DialogBridge
from voicebot.events import DialogReply

CAMPAIGN = Path(__file__).parent / "data" / "survey_csat.yml"
_ids = itertools.count()


@pytest.fixture(scope="module")
def bridge(rasa_agent):  # type: ignore[no-untyped-def]
    return DialogBridge(rasa_agent)


class Survey:
    """One text survey conversation: ``say`` a turn, read the reply and the reports."""

    def __init__(self, bridge: DialogBridge, loop: asyncio.AbstractEventLoop) -> None:
        self.bridge = bridge
        self.loop = loop
        self.call_id = f"survey-text-{next(_ids)}"
        spec = load_campaign(CAMPAIGN)
        script = spec.survey
        opening = script.opening.format(name="Ann")
        self.loop.run_until_complete(bridge.start(self.call_id))
        self.first = self.loop.run_until_complete(
            bridge.start_survey(
                self.call_id,
                spec.dialog,
                SurveyScript(opening, script.consent, script.questions).to_json(),
            )
        )

    def say(self, text: str) -> DialogReply:
        return self.loop.run_until_complete(self.bridge.handle(self.call_id, text))

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.bridge.conversation(self.call_id).survey

    def answers(self) -> dict[str, str]:
        return {e["question"]: e["value"] for e in self.events if e.get("type") == "survey_answer"}

    def outcome(self) -> str | None:
        ends = [e for e in self.events if e.get("type") == "survey_end"]
        return ends[-1]["outcome"] if ends else None


@pytest.fixture
def survey(bridge, event_loop_runner):  # type: ignore[no-untyped-def]
    return Survey(bridge, event_loop_runner)


def test_opening_then_consent_question(survey: Survey) -> None:
    text = " ".join(survey.first.texts)
    assert "Hello Ann" in text and "Brightline" in text
    assert "two minutes" in survey.first.texts[-1]
    assert survey.bridge.conversation(survey.call_id).requested_slot == "survey_consent"


def test_full_survey_by_speech_words(survey: Survey) -> None:
    reply = survey.say("yes sure")
    assert "scale of 1 to 5" in reply.texts[-1]
    assert survey.answers() == {"consent": "yes"}  # reported before the next question
    reply = survey.say("I'd say a four")
    assert survey.answers()["satisfaction"] == "4"
    assert "0 to 10" in reply.texts[-1]
    survey.say("probably a seven")
    reply = survey.say("yes it was")
    assert "phone" in reply.texts[-1]
    survey.say("mostly on the web")
    reply = survey.say("the engineer was very friendly")
    assert reply.ended
    assert "Thank you" in " ".join(reply.texts)
    assert survey.answers() == {
        "consent": "yes",
        "satisfaction": "4",
        "recommend": "7",
        "resolved": "yes",
        "channel": "web",
        "comment": "the engineer was very friendly",
    }
    assert survey.outcome() == "completed"


def test_keypad_answers(survey: Survey) -> None:
    for keys in ("1", "5", "10", "2", "3"):
        survey.say(keys)
    reply = survey.say("no thanks nothing else")
    assert reply.ended
    answers = survey.answers()
    assert answers == {
        "consent": "yes",
        "satisfaction": "5",
        "recommend": "10",
        "resolved": "no",
        "channel": "shop",
        "comment": "no thanks nothing else",
    }


def test_unclear_answer_is_read_back_and_confirmed(survey: Survey) -> None:
    survey.say("yes")
    reply = survey.say("very satisfied")
    assert reply.texts[-1] == "I heard five. Is that right?"
    assert "satisfaction" not in survey.answers()  # not taken before the yes
    reply = survey.say("yes")
    assert survey.answers()["satisfaction"] == "5"
    reply = survey.say("ate")  # NPS: a homophone of eight
    assert reply.texts[-1] == "I heard eight. Is that right?"
    reply = survey.say("no")
    assert "Sorry" in reply.texts[-1] and "0 to 10" in reply.texts[-1]
    survey.say("nine")
    assert survey.answers()["recommend"] == "9"


def test_one_reprompt_then_the_next_question(survey: Survey) -> None:
    survey.say("yes")
    reply = survey.say("hmm let me think about that")
    assert "didn't catch that" in reply.texts[-1]
    assert "press a key from 1 to 5" in reply.texts[-1]  # the keypad hint
    reply = survey.say("purple")
    assert "0 to 10" in reply.texts[-1]  # skipped: the next question
    assert "satisfaction" not in survey.answers()


def test_refusal(survey: Survey) -> None:
    reply = survey.say("no thank you")
    assert reply.ended
    assert survey.answers() == {"consent": "no"}
    assert survey.outcome() == "refused"


def test_call_me_later_with_a_time(survey: Survey) -> None:
    reply = survey.say("not now, can you call me back tomorrow afternoon")
    assert reply.ended
    assert survey.outcome() == "later"
    end = [e for e in survey.events if e.get("type") == "survey_end"][-1]
    assert "tomorrow afternoon" in end["callback"]


def test_call_me_later_asks_when(survey: Survey) -> None:
    survey.say("yes")
    survey.say("three")
    reply = survey.say("sorry I'm busy right now")
    assert "better time" in reply.texts[-1]
    assert not reply.ended
    reply = survey.say("in two hours")
    assert reply.ended
    assert survey.outcome() == "later"
    assert survey.answers() == {"consent": "yes", "satisfaction": "3"}  # kept


def test_do_not_call_again(survey: Survey) -> None:
    survey.say("okay")
    reply = survey.say("actually please don't call me again")
    assert reply.ended
    assert "won't call you again" in " ".join(reply.texts)
    assert survey.outcome() == "opt_out"
