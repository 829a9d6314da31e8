"""Survey calls end to end over the simulated line: real Whisper hears callees speaking in
espeak-ng and flite voices (not the bot's Piper voice), the real trained Rasa model and
action server run the survey form, Piper speaks the questions, and ``run_survey`` reports
each answer through ``answer()`` as it is confirmed.

Cases: two spoken surveys (answer accuracy is printed and checked), a keypad survey, an
unclear answer read back and confirmed, a refusal of consent, "call me later" with a time,
"don't call me again", and a hang-up mid-survey that keeps the answers given so far.
The two spoken surveys and the unclear answer have listening callees
(tests/_listening_line.py): each decodes the bot's prompt with Whisper and answers the
question it was asked (again, in other words, when asked again) and read-backs truthfully,
as a person would; the other cases play their steps in order.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests._listening_line import ListeningLine, listening_case
from tests.sip.survey_respondent import CSAT_SPEAKERS, respondent_script
from voicebot.center.campaigns.spec import load_campaign
from voicebot.center.campaigns.spoken import respondent_case
from voicebot.center.campaigns.store import DueContact
from voicebot.center.campaigns.survey_call import SurveyEnd, run_survey
from voicebot.replay.simline import SimulatedLine

CAMPAIGN = Path(__file__).parent / "data" / "survey_csat.yml"

#: name -> (steps, expected answers as recorded, expected outcome)
CASES: dict[str, tuple[list[tuple[str, ...]], dict[str, str], str]] = {
    "spoken_us": (
        [
            ("say", "yes sure", "espeak:en-us"),
            ("say", "I would say four", "espeak:en-us"),
            ("say", "seven", "espeak:en-us"),
            ("say", "yes it was", "espeak:en-us"),
            ("say", "mostly on the web", "espeak:en-us"),
            ("say", "the engineer was very friendly", "espeak:en-us"),
        ],
        {
            "consent": "yes",
            "satisfaction": "4",
            "recommend": "7",
            "resolved": "yes",
            "channel": "web",
            "comment": "*",
        },
        "completed",
    ),
    "spoken_slt": (
        [
            ("say", "yes go ahead", "flite:slt"),
            ("say", "two", "flite:slt"),
            ("say", "nine", "flite:slt"),
            ("say", "no", "flite:slt"),
            ("say", "by phone", "flite:slt"),
            ("say", "nothing else thank you", "flite:slt"),
        ],
        {
            "consent": "yes",
            "satisfaction": "2",
            "recommend": "9",
            "resolved": "no",
            "channel": "phone",
            "comment": "*",
        },
        "completed",
    ),
    "keypad": (
        [("keys", "1"), ("keys", "5"), ("keys", "10"), ("keys", "2"), ("keys", "3")],
        {
            "consent": "yes",
            "satisfaction": "5",
            "recommend": "10",
            "resolved": "no",
            "channel": "shop",
        },
        "hung_up",  # the comment question cannot be keyed: the callee hangs up there
    ),
    "unclear_confirmed": (
        [
            ("say", "yes", "espeak:en-gb-x-rp"),
            ("say", "very satisfied", "espeak:en-gb-x-rp"),
            ("say", "yes", "espeak:en-gb-x-rp"),
        ],
        {"consent": "yes", "satisfaction": "5"},
        "hung_up",
    ),
    "refuses": (
        [("say", "no thank you", "flite:awb")],
        {"consent": "no"},
        "refused",
    ),
    "later": (
        [("say", "not now, call me back tomorrow afternoon", "espeak:en-gb-scotland")],
        {},
        "later",
    ),
    "opt_out": (
        [("say", "please don't call me again", "flite:kal")],
        {},
        "opt_out",
    ),
    "hangs_up": (
        [("say", "okay", "flite:rms"), ("say", "three", "flite:rms")],
        {"consent": "yes", "satisfaction": "3"},
        "hung_up",
    ),
}
SPOKEN = ("spoken_us", "spoken_slt", "unclear_confirmed", "hangs_up")
#: the spoken cases whose callee listens (tests/_listening_line.py): name -> (voice,
#: question -> (what is said, what is meant), hangs up when asked something else); their
#: steps above are what they say when all goes well
LISTENING: dict[str, tuple[str, dict[str, tuple[str, str]], bool]] = {
    "spoken_us": (*CSAT_SPEAKERS["us"], False),
    "spoken_slt": (*CSAT_SPEAKERS["slt"], False),
    "unclear_confirmed": (
        "espeak:en-gb-x-rp",
        {"consent": ("yes", "yes"), "satisfaction": ("very satisfied", "5")},
        True,
    ),
}


@pytest.fixture(scope="module")
def pipeline(rasa_agent, frozen_now):  # type: ignore[no-untyped-def]
    from voicebot.config import load_settings
    from voicebot.pipeline import Pipeline

    os.environ["VOICEBOT_NOW"] = frozen_now
    return Pipeline.load(load_settings(), agent=rasa_agent)


@pytest.fixture(scope="module")
def calls(pipeline, event_loop_runner, tmp_path_factory):  # type: ignore[no-untyped-def]
    """Every case run once: name -> (SurveyEnd, answers as answer() got them, the line)."""
    spec = load_campaign(CAMPAIGN)
    folder = tmp_path_factory.mktemp("listening")
    out: dict[str, tuple[SurveyEnd, list[tuple[str, str]], SimulatedLine, float]] = {}
    for n, (name, (steps, _, _)) in enumerate(CASES.items(), 1):
        line: SimulatedLine
        if name in LISTENING:
            voice, answers, hang_up = LISTENING[name]
            script = respondent_script(folder, name, voice, answers, hang_up)
            line = ListeningLine(
                listening_case(name), rate=pipeline.rate, survey=spec.survey, script=script
            )
        else:
            line = SimulatedLine(respondent_case(name, steps, pipeline.rate), rate=pipeline.rate)
        recorded: list[tuple[str, str]] = []
        contact = DueContact(n, n, f"+4416329600{n:02d}", "Ann", "Europe/London", "en", {}, 1)
        started = time.time()
        end = event_loop_runner.run_until_complete(
            run_survey(line, pipeline, spec, contact, _recorder(recorded))
        )
        out[name] = (end, recorded, line, started)
    return out


def _recorder(into: list[tuple[str, str]]) -> Any:
    return lambda question, value: into.append((question, value))


def _matches(expected: dict[str, str], got: dict[str, str]) -> dict[str, bool]:
    return {q: (v == "*" and bool(got.get(q))) or got.get(q) == v for q, v in expected.items()}


def _check_call(calls: dict[str, Any], name: str, *, exact: bool) -> None:
    _, expected, outcome = CASES[name]
    end, recorded, line, _ = calls[name]
    said = [t for _, who, t in end.call.timeline]
    assert dict(recorded) == end.answers, name  # every answer went through answer()
    assert end.call.failure is None and not end.call.errors, name
    assert end.outcome == outcome, f"{name}: {end.outcome} != {outcome}; {said}"
    if exact:
        assert end.answers == expected, f"{name}: {end.answers}; {said}"
    if outcome in ("completed", "refused", "later", "opt_out"):
        assert line.hung_up_by_bot, name


@pytest.mark.parametrize("name", ["keypad", "refuses", "later", "opt_out", "hangs_up"])
def test_outcome_and_answers(calls: dict[str, Any], name: str) -> None:
    """Keys, a refusal, call me later, do not call again, a hang-up mid-survey (the
    answers given before it are kept)."""
    _check_call(calls, name, exact=True)


@pytest.mark.parametrize("name", ["spoken_us", "spoken_slt", "unclear_confirmed"])
def test_spoken_survey_outcome(calls: dict[str, Any], name: str) -> None:
    _check_call(calls, name, exact=False)


def test_spoken_answer_accuracy(calls: dict[str, Any]) -> None:
    """Answers heard by Whisper in four voices (reporting data: the parser was not tuned on
    them); at least 90 % must be right. Measured 2026-12-03 with the listening callees:
    15/16 (93.8 %; unclear_confirmed's "yes that's right" to "I heard five" was not heard as
    a yes, so the bot asked again and skipped the rating). Before, a scripted callee went out
    of step after one miss: 9/16."""
    right = total = 0
    for name in SPOKEN:
        end = calls[name][0]
        hits = _matches(CASES[name][1], end.answers)
        right += sum(hits.values())
        total += len(hits)
        print(f"{name}: {end.answers} wrong={[q for q, ok in hits.items() if not ok]}")
        for turn in getattr(calls[name][2], "heard", []):
            print("   heard", turn)
    print(f"spoken answer accuracy: {right}/{total} = {right / total:.1%}")
    assert right / total >= 0.9


def test_consent_callback_and_opt_out_flags(calls: dict[str, Any]) -> None:
    later = calls["later"][0]
    started = calls["later"][3]
    assert later.callback_at is not None and later.callback_at > started + 3600
    assert not later.consented and not later.opted_out
    assert calls["opt_out"][0].opted_out
    assert not calls["refuses"][0].consented
    assert calls["keypad"][0].consented and not calls["keypad"][0].completed


def test_unclear_answer_was_read_back(calls: dict[str, Any]) -> None:
    end = calls["unclear_confirmed"][0]
    bot = [t for _, who, t in end.call.timeline if who == "bot"]
    assert any("I heard five" in t for t in bot), bot
