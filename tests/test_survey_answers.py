"""The survey's pure parts: the campaign file's questions, typed answers from speech and
keys, "call me later" / "don't call me again", callback times. No model needed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from voicebot.center.campaigns.answers import end_request, heard_as, parse_answer, sound_key
from voicebot.center.campaigns.callback_time import callback_time, parse_when
from voicebot.center.campaigns.questions import Question
from voicebot.center.campaigns.spec import CampaignSpec, load_campaign, parse_campaign
from voicebot.errors import ConfigError

CAMPAIGN = Path(__file__).parent / "data" / "survey_csat.yml"
SCALE = Question("satisfaction", "How satisfied?", "scale_1_5")
NPS = Question("recommend", "Recommend?", "nps_0_10")
YES_NO = Question("resolved", "Solved?", "yes_no")
CHOICE = Question("channel", "Which?", "choice", ("phone", "web", "shop"))
COMMENT = Question("comment", "Anything else?", "comment")


def test_campaign_file_questions_round_trip() -> None:
    spec = load_campaign(CAMPAIGN)
    assert [q.id for q in spec.survey.questions] == [
        "satisfaction",
        "recommend",
        "resolved",
        "channel",
        "comment",
    ]
    assert spec.survey.questions[3].options == ("phone", "web", "shop")
    assert "{name}" in spec.survey.opening
    again = CampaignSpec.from_dict(spec.as_dict())
    assert again.survey == spec.survey


@pytest.mark.parametrize(
    ("question", "match"),
    [
        ({"id": "q", "type": "stars", "text": "?"}, "question 1, key 'type'"),
        ({"id": "Bad Id", "type": "yes_no", "text": "?"}, "question 1, key 'id'"),
        ({"id": "consent", "type": "yes_no", "text": "?"}, "key 'id'"),
        ({"id": "q", "type": "choice", "text": "?", "options": ["one"]}, "key 'options'"),
        ({"id": "q", "type": "yes_no", "text": "?", "options": ["a", "b"]}, "key 'options'"),
        ({"id": "q", "type": "yes_no", "text": ""}, "question 1, key 'text'"),
    ],
)
def test_bad_question_is_named(question: dict[str, object], match: str) -> None:
    raw = {"name": "c", "dialog": "survey_csat", "questions": [question]}
    with pytest.raises(ConfigError, match=match) as err:
        parse_campaign(raw, Path("c.yml"))
    assert "c.yml" in str(err.value)


def test_too_many_questions_and_bad_opening() -> None:
    many = [{"id": f"q{i}", "type": "yes_no", "text": "?"} for i in range(13)]
    with pytest.raises(ConfigError, match="at most 12"):
        parse_campaign({"name": "c", "dialog": "survey_csat", "questions": many}, Path("c.yml"))
    with pytest.raises(ConfigError, match="opening"):
        parse_campaign({"name": "c", "dialog": "survey_csat", "opening": "Hi {who}"}, Path("c"))


@pytest.mark.parametrize(
    ("question", "said", "value", "certainty"),
    [
        (SCALE, "Four.", "4", "sure"),
        (SCALE, "I'd say a 4", "4", "sure"),
        (SCALE, "four out of five", "4", "sure"),
        (SCALE, "3", "3", "sure"),
        (SCALE, "For.", "4", "unsure"),
        (SCALE, "very satisfied", "5", "unsure"),
        (SCALE, "seven", None, "none"),
        (SCALE, "three or four", None, "none"),
        (SCALE, "hmm let me think", None, "none"),
        (NPS, "I'd say a seven.", "7", "sure"),
        (NPS, "10 out of 10", "10", "sure"),
        (NPS, "8/10", "8", "sure"),
        (NPS, "zero", "0", "sure"),
        (NPS, "Ate.", "8", "unsure"),
        (NPS, "eleven", None, "none"),
        (YES_NO, "Yes, it was.", "yes", "sure"),
        (YES_NO, "No, not really.", "no", "sure"),
        (YES_NO, "I'm not sure", None, "none"),
        (CHOICE, "Mostly on the web.", "web", "sure"),
        (CHOICE, "by phone", "phone", "sure"),
        (CHOICE, "the second one", "web", "sure"),
        (CHOICE, "in the shops", "shop", "unsure"),
        (CHOICE, "phone or web", None, "none"),
        (CHOICE, "Bye, Fond.", "phone", "unsure"),  # heard by Whisper for "by phone"
        (CHOICE, "Fun.", "phone", "unsure"),
        (CHOICE, "In a sharp,", "shop", "unsure"),
        (CHOICE, "Sun.", None, "none"),
        (SCALE, "I want to pay for...", "4", "unsure"),  # "I would say four", last word
        (SCALE, "a four", "4", "sure"),
        (NPS, "eight out of ten", "8", "sure"),
        (NPS, "nine I guess", "9", "sure"),
        (NPS, "Eight, twelve, ten.", "8", "unsure"),  # "eight out of ten", misheard
        (NPS, "ten, eight", None, "none"),
        (NPS, "I guess it's good for me", None, "none"),  # "for" inside a sentence
        (COMMENT, "The engineer was very friendly.", "The engineer was very friendly.", "sure"),
        (COMMENT, "", None, "none"),
    ],
)
def test_spoken_answers(question: Question, said: str, value: str | None, certainty: str) -> None:
    parsed = parse_answer(question, said)
    assert (parsed.value, parsed.certainty) == (value, certainty)


@pytest.mark.parametrize(
    ("question", "keys", "value"),
    [
        (SCALE, "4", "4"),
        (SCALE, "6", None),
        (NPS, "10", "10"),
        (NPS, "7#", "7"),
        (NPS, "11", None),
        (YES_NO, "1", "yes"),
        (YES_NO, "2", "no"),
        (YES_NO, "3", None),
        (CHOICE, "3", "shop"),
        (CHOICE, "4", None),
        (COMMENT, "5", None),
    ],
)
def test_keyed_answers(question: Question, keys: str, value: str | None) -> None:
    parsed = parse_answer(question, keys)
    assert parsed.value == value
    assert parsed.certainty == ("sure" if value else "none")


@pytest.mark.parametrize(
    ("said", "kind"),
    [
        ("Can you call me later?", "later"),
        ("Not now, I'm driving.", "later"),
        ("call me back tomorrow afternoon", "later"),
        ("I'm busy right now", "later"),
        ("Don't call me again.", "opt_out"),
        ("Please take me off your list", "opt_out"),
        ("stop calling me", "opt_out"),
        ("Yes, go ahead.", None),
        ("four", None),
        ("I don't know", None),
    ],
)
def test_end_requests(said: str, kind: str | None) -> None:
    assert end_request(said) == kind


LONDON = "Europe/London"
# Thursday 3 December 2026, 10:00 in London (UTC in winter)
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC).timestamp()


def _local(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).astimezone(ZoneInfo(LONDON)).strftime("%a %H:%M")


@pytest.mark.parametrize(
    ("said", "local"),
    [
        ("tomorrow afternoon", "Fri 14:00"),
        ("in two hours", "Thu 12:00"),
        ("at 6 pm", "Thu 18:00"),
        ("call me at six", "Thu 18:00"),
        ("on Monday morning", "Mon 10:00"),
        ("half past four", "Thu 16:30"),
        ("in 30 minutes", "Thu 10:30"),
        ("tomorrow at 9:30", "Fri 09:30"),
        ("this evening", "Thu 18:00"),
    ],
)
def test_callback_times(said: str, local: str) -> None:
    when = parse_when(said, NOW, LONDON)
    assert when is not None and _local(when) == local


def test_callback_default_and_window() -> None:
    spec = load_campaign(CAMPAIGN)  # window 08:00-21:00 every day
    assert parse_when("call me later", NOW, LONDON) is None
    assert callback_time("call me later", NOW, LONDON, spec) == NOW + 86400  # +1 day
    late = callback_time("tonight at 11 pm", NOW, LONDON, spec)  # outside the window
    assert _local(late) == "Fri 08:00"
    # a contact in New York: "tomorrow morning" is their morning
    ny = callback_time("tomorrow morning", NOW, "America/New_York", spec)
    assert datetime.fromtimestamp(ny, UTC).astimezone(ZoneInfo("America/New_York")).hour == 10


@pytest.mark.parametrize(
    ("word", "key"),
    [("phone", "fn"), ("fun", "fn"), ("fond", "fnt"), ("shop", "Xp"), ("sharp", "Xrp"),
     ("web", "wp"), ("in", "in"), ("", "")],
)  # fmt: skip
def test_sound_keys(word: str, key: str) -> None:
    assert sound_key(word) == key


def test_each_question_type_is_heard_in_its_mode() -> None:
    """Ratings and scores in ``number`` mode (a digits decode behind it), consent, choices
    and comments freely, yes/no with the survey-answer context."""
    assert heard_as(None) == heard_as(COMMENT) == heard_as(CHOICE) == "free"
    assert heard_as(SCALE) == heard_as(NPS) == "number"
    assert heard_as(YES_NO) == "answer"
