"""The listening survey respondent's ear (tests/sip/listening.py + survey_respondent.py):
every prompt the survey bot says in tests/data/survey_csat.yml (opening with consent, each
question, each reprompt with its keypad hint, read-backs, goodbye) is spoken by the bot's
real Piper voice at 8 kHz, sent through G.711 mu-law as on the SIP line, decoded by real
Whisper the way the respondent decodes it, and must be taken for what the bot asked; the
respondent then picks the answer for that question, its second take when asked again, and
answers read-backs truthfully. No fakes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.sip.listening import Asked, readback_is_true, what_was_asked
from voicebot.audio.codecs import ulaw_decode, ulaw_encode
from voicebot.center.campaigns.spec import load_campaign

SPEC = load_campaign(Path(__file__).parent / "data" / "survey_csat.yml")
SURVEY = SPEC.survey


def _prompts() -> list[tuple[str, Asked]]:
    opening = SURVEY.opening.format(name="Ann us")
    out = [
        (f"{opening} {SURVEY.consent}", Asked("question", "consent")),
        (f"Sorry, was that a yes or a no? {SURVEY.consent}", Asked("question", "consent")),
    ]
    for n, q in enumerate(SURVEY.questions):
        lead = "Thank you. " if n == 0 else ""
        out.append((f"{lead}{q.text}", Asked("question", q.id)))
        again = f"Sorry, I didn't catch that. {q.text} {q.keypad_hint()}".strip()
        out.append((again, Asked("question", q.id)))
    for said in ("seven", "four", "the web", "yes"):
        out.append((f"I heard {said}. Is that right?", Asked("readback", value=said)))
    for goodbye in (
        "That's all my questions. Thank you very much for your time. Goodbye.",
        "No problem at all. Thank you, and goodbye.",
        "Of course. We'll call you back then. Goodbye.",
    ):
        out.append((goodbye, Asked("goodbye")))
    return out


PROMPTS = _prompts()


@pytest.fixture(scope="module")
def heard() -> list[str]:
    """Each prompt as the respondent hears it: Piper -> G.711 -> Whisper."""
    from tests.sip import survey_respondent
    from voicebot.config import load_settings
    from voicebot.tts import load_speaker

    speaker = load_speaker(load_settings())
    out = []
    for text, _ in PROMPTS:
        audio = np.asarray(speaker.speak(text), dtype=np.int16)
        line = ulaw_decode(ulaw_encode(audio))
        out.append(survey_respondent._decode(line.astype("<i2").tobytes())[0])
    return out


def test_every_bot_prompt_is_taken_for_what_it_asked(heard: list[str]) -> None:
    wrong = []
    for (text, want), got_text in zip(PROMPTS, heard, strict=True):
        got = what_was_asked(got_text, SURVEY)
        same = got.kind == want.kind and got.question_id == want.question_id
        if want.kind == "readback":
            same = same and bool(got.value)
        if not same:
            wrong.append((text, got_text, got))
    assert not wrong, wrong


def test_readbacks_are_judged_against_what_was_meant(heard: list[str]) -> None:
    questions = {q.id: q for q in SURVEY.questions}
    values = {
        text: what_was_asked(h, SURVEY).value
        for (text, want), h in zip(PROMPTS, heard, strict=True)
        if want.kind == "readback"
    }
    seven = values["I heard seven. Is that right?"]
    assert readback_is_true(questions["recommend"], seven, "7")
    assert not readback_is_true(questions["recommend"], seven, "1")
    four = values["I heard four. Is that right?"]
    assert readback_is_true(questions["satisfaction"], four, "4")
    assert not readback_is_true(questions["satisfaction"], four, "2")
    web = values["I heard the web. Is that right?"]
    assert readback_is_true(questions["channel"], web, "web")
    assert not readback_is_true(questions["channel"], web, "phone")
    yes = values["I heard yes. Is that right?"]
    assert readback_is_true(questions["resolved"], yes, "yes")
    assert not readback_is_true(questions["resolved"], yes, "no")


def test_respondent_answers_the_question_asked_and_repeats_itself() -> None:
    from tests.sip.survey_respondent import Respondent

    script = {
        "answers": {
            "consent": {"value": "yes", "takes": ["c1.wav"]},
            "satisfaction": {"value": "4", "takes": ["s1.wav", "s2.wav"]},
        },
        "yes": "yes.wav",
        "no": "no.wav",
        "hang_up": True,
    }
    r = Respondent(SURVEY, script)
    assert r.reply(Asked("question", "satisfaction")) == "s1.wav"  # out of order is fine
    assert r.reply(Asked("readback", value="for")) == "no.wav"  # "for" is not a number
    assert r.reply(Asked("question", "satisfaction")) == "s2.wav"  # asked again: take 2
    assert r.reply(Asked("readback", value="four")) == "yes.wav"
    assert r.reply(Asked("question", "satisfaction")) == "s2.wav"  # no take 3: take 2 again
    assert r.reply(Asked("question", "consent")) == "c1.wav"
    assert r.reply(Asked("unknown")) == ""
    assert r.reply(Asked("question", "recommend")) == "hang_up"  # no answer: quits
    assert r.reply(Asked("goodbye")) == "wait"


def test_a_prompt_split_by_a_long_pause_is_heard_whole() -> None:
    """On a loaded machine the bot pauses within a prompt: the respondent keeps a part it
    cannot place and hears it with the next one (texts as Whisper wrote them over SIP)."""
    from tests.sip.survey_respondent import Respondent

    r = Respondent(SURVEY, {"answers": {}})
    assert r.hear("From 0 to 10.").kind == "unknown"
    asked = r.hear("I like to hear your bright line to a friend.")
    assert (asked.kind, asked.question_id) == ("question", "recommend")
    assert r.hear("Thank you.").kind == "unknown"
    assert r.hear("Sorry, I didn't hear anything.").kind == "unknown"
    asked = r.hear("On a scale of 1 to 5, how satisfied were you with the help you got?")
    assert (asked.kind, asked.question_id) == ("question", "satisfaction")
    assert r.carried == ""  # placed: nothing carried into the next turn
