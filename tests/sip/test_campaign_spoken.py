"""The spoken survey dialog over real SIP: ``voicebot campaign start`` places the calls from
a dialer process (pjsua2) to listening respondents on a real SIP line (a worker process
running tests/sip/survey_respondent.py) who greet and answer by voice, in flite and espeak-ng
voices (never the bot's Piper voice): each decodes the bot's prompt with Whisper, answers the
question it was asked (again, in other words, when asked again) and answers a read-back
truthfully, so one misheard answer no longer puts it out of step. Real: pjsua2 both sides,
AMD, Whisper, the trained Rasa survey dialog, Piper, the store. The dialer process
loads the models itself here (``services.mode: inprocess``) with the test run's action
server (tests/conftest.py): no services are started.
"""

from __future__ import annotations

import json

import pytest

from tests.sip.conftest import ROOT, require_peers
from tests.sip.survey_respondent import CSAT_SPEAKERS, respondent_script, start_line, stop_line
from tests.sip.test_campaign_sip import contacts, finish, setup, start
from voicebot.center.campaigns.spec import load_campaign

SURVEY = (ROOT / "tests" / "data" / "survey_csat.yml").read_text()
EXTRA = """
caller_id: "+441632960000"
pacing: {max_concurrent: 3, max_rate_per_s: 1.0}
retries: {busy: {delay_s: 1, max: 0}, no_answer: {delay_s: 1, max: 0}}
machine: {action: hangup}
"""
#: user -> (voice, question -> (what is said, what is meant), hangs up mid-survey); the
#: store must hold what is meant (the comment is free text: only its presence is checked)
RESPONDENTS: dict[str, tuple[str, dict[str, tuple[str, str]], bool]] = {
    "us": (*CSAT_SPEAKERS["us"], False),
    "slt": (*CSAT_SPEAKERS["slt"], False),
    "quitter": ("flite:rms", {"consent": ("okay", "yes"), "satisfaction": ("three", "3")}, True),
}


def expected(user: str) -> dict[str, str]:
    """The answers the store must hold for ``user`` (without the free comment)."""
    return {q: v for q, (_, v) in RESPONDENTS[user][1].items() if q != "comment"}


@pytest.fixture(scope="module")
def campaign_run(tmp_path_factory: pytest.TempPathFactory, action_endpoint: str) -> dict:
    """Runs the campaign once: the store's rows by user, and the INVITEs by user."""
    require_peers()
    tmp_path = tmp_path_factory.mktemp("spoken")
    users = {}
    for user, (voice, answers, hang_up) in RESPONDENTS.items():
        users[user] = respondent_script(tmp_path, user, voice, answers, hang_up)
    survey = load_campaign(ROOT / "tests" / "data" / "survey_csat.yml").survey.as_dict()
    callee, port = start_line(tmp_path, survey, users)
    try:
        uris = {u: f"sip:{u}@127.0.0.1:{port}" for u in RESPONDENTS}
        env = setup(
            tmp_path, "csat-survey-test", {uri: f"Ann {u}" for u, uri in uris.items()}, 3,
            "spoken", campaign=SURVEY + EXTRA, ring_timeout_s=8,
            settings=f"  start_timeout_s: 400\ndialog:\n  action_endpoint: {action_endpoint}\n",
        )  # fmt: skip
        out = finish(start(tmp_path, "csat-survey-test", env), 900)
    finally:
        stop_line(callee)
    got = contacts(tmp_path / "var" / "campaigns.sqlite3")
    log = (tmp_path / "invites.jsonl").read_text().splitlines()
    return {
        "rows": {u: got[uri] for u, uri in uris.items()},
        "invites": [json.loads(x)["user"] for x in log],
        "out": out[-1500:],
        "turns": (tmp_path / "turns.jsonl").read_text(),
    }


def test_spoken_calls_reach_the_survey_and_answers_the_store(campaign_run: dict) -> None:
    rows = campaign_run["rows"]
    summary = json.dumps(rows, indent=1) + "\n" + campaign_run["out"] + campaign_run["turns"]
    assert sorted(campaign_run["invites"]) == sorted(RESPONDENTS)  # each called once
    for user, (_, _, hang_up) in RESPONDENTS.items():
        row = rows[user]
        assert row["results"] == ["answered"], summary
        assert "person" in row["details"][0] and "spoken survey" in row["details"][0], summary
        assert row["answers"].get("consent") == "yes", summary  # a spoken "yes" over SIP
        if hang_up:  # two short answers, then the callee hangs up: both kept
            assert row["answers"] == expected(user), summary
            assert "hung up mid-survey" in row["details"][0], summary


#: Of the 12 answers meant (comments aside), at least this many must be in the store. Measured
#: 2026-12-03: 12/12 in 3 of 4 runs; in the 4th, run while the 2 cores were also busy with
#: other tests, some were misheard (the product's Whisper on short synthetic answers; the
#: spoken campaign bench, bench/results/campaign_spoken.json, gives 91.3% of 288). A floor,
#: not all 12: one misheard short answer under load is the known ASR gap, not a regression.
MIN_RIGHT = 10


def test_spoken_answers_over_sip_are_nearly_all_right(campaign_run: dict) -> None:
    """The answers the listening respondents meant are in the store (at least ``MIN_RIGHT``
    of 12), and every survey that was not cut short is completed with a comment."""
    rows = campaign_run["rows"]
    summary = json.dumps(rows, indent=1) + "\n" + campaign_run["turns"]
    right = total = 0
    for user, (_, _, hang_up) in RESPONDENTS.items():
        stored = rows[user]["answers"]
        for question, meant in expected(user).items():
            total += 1
            right += stored.get(question) == meant
        # recorded as the keypad survey does, so the report's funnel counts it
        assert stored.get("completed") == (None if hang_up else "yes"), summary
        if not hang_up:
            assert stored.get("comment"), summary
            assert "spoken survey; completed" in rows[user]["details"][0], summary
    print(f"spoken answers over SIP: {right}/{total} right")
    assert total == 12 and right >= MIN_RIGHT, f"{right}/{total} right\n{summary}"
