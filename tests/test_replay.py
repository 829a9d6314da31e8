"""QA replay: every recorded caller in tests/audio through the whole pipeline, real models.

The real Whisper and Piper models, the real trained dialog and action server, the real VAD
and turn-taking; the line is the simulated one (virtual clock), so the suite is quick and
always the same. The suite is run once per test session; the tests read its results.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voicebot.replay import baseline, report
from voicebot.replay.cases import find_cases, load_case
from voicebot.replay.runner import CaseResult, run_case
from voicebot.replay.simline import SimulatedLine

CASES = Path(__file__).resolve().parent / "audio"
BASELINE = CASES / "_baseline.json"


@pytest.fixture(scope="session")
def pipeline(rasa_agent, frozen_now):  # type: ignore[no-untyped-def]
    from voicebot.config import load_settings
    from voicebot.pipeline import Pipeline

    os.environ["VOICEBOT_NOW"] = frozen_now  # the session's own hand-offs use this clock
    return Pipeline.load(load_settings(), agent=rasa_agent)


@pytest.fixture(scope="session")
def suite(pipeline, event_loop_runner, tmp_path_factory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("replay")
    results: dict[str, tuple[CaseResult, SimulatedLine]] = {}
    for path in find_cases(CASES):
        case = load_case(path)
        result, line, _ = event_loop_runner.run_until_complete(
            run_case(pipeline, case, out / "calls")
        )
        results[case.name] = (result, line)
    info = report.write([r for r, _ in results.values()], out)
    return results, info, out


def test_there_are_at_least_30_cases() -> None:
    assert len(find_cases(CASES)) >= 30


def test_no_case_regresses_against_the_baseline(suite) -> None:  # type: ignore[no-untyped-def]
    results, info, _ = suite
    verdict = baseline.compare([r for r, _ in results.values()], baseline.load(BASELINE))
    # not ok: a regression, or a known failure that fails differently (its reason may be stale)
    assert verdict.ok, (verdict.changed, report.table([r for r, _ in results.values()]))
    # known failures (documented with their reasons in the baseline: Whisper tiny.en mishearing
    # a spoken PIN, date of birth or postcode) stay few: the suite is not allowed to rot
    assert len(verdict.known_failures) <= 5, verdict.known_failures
    assert info["passed"] >= 0.8 * info["cases"]


def test_report_files_are_written(suite) -> None:  # type: ignore[no-untyped-def]
    _, info, out = suite
    data = json.loads((out / "report.json").read_text())
    assert data["summary"]["cases"] == info["cases"]
    page = (out / "report.html").read_text()
    assert "data:image/png;base64," in page  # latency and intent plots embedded
    assert info["latency_ms"]["p50"] is not None


def test_bot_side_is_recorded_at_the_line_rate(suite) -> None:  # type: ignore[no-untyped-def]
    results, _, out = suite
    result, _ = results["hours_us_male"]
    audio, rate = sf.read(result.bot_wav, dtype="int16")
    assert rate == 8000
    assert np.abs(audio).max() > 1000  # the bot spoke
    lines = (out / "calls" / "hours_us_male.turns.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    for key in ("heard", "asr_confidence", "intent", "bot", "asr_ms", "dialog_ms", "latency_ms"):
        assert key in first
    assert json.loads(lines[-1])["outcome"]["kind"] == "resolved"


@pytest.mark.parametrize("name", ["barge_in_greeting", "barge_in_answer"])
def test_barge_in_stops_the_prompt(suite, name: str) -> None:  # type: ignore[no-untyped-def]
    results, _, _ = suite
    result, line = results[name]
    assert result.barge_ins >= 1
    assert all(heard < 3000 for heard in line.barge_ins)  # cut early, not played out


def test_keypad_and_human_digits_identify_the_caller(suite) -> None:  # type: ignore[no-untyped-def]
    results, _, _ = suite
    for name in ("balance_keypad", "order_caller_id"):  # keyed digits, caller ID + keyed PIN
        result, _ = results[name]
        said = " ".join(result.bot_said).lower()
        assert "confirmed" in said, (name, result.bot_said)
    # an account number spoken by a real person (FSDD recordings) is taken: the PIN comes next
    result, _ = results["balance_fsdd_account_pin"]
    asked = [s.lower() for s in result.bot_said]
    account_q = next(i for i, s in enumerate(asked) if "account number" in s)
    assert "pin" in asked[account_q + 1], asked


def test_a_complete_spoken_account_number_ends_its_turn_at_a_pause(suite) -> None:  # type: ignore[no-untyped-def]
    results, _, _ = suite
    result, _ = results["balance_fsdd_account_pin"]  # account and PIN said by real people
    account = next(t for t in result.turns if t["expect"] == "digits")
    assert account["heard"] == "12345678"
    # every digit was there at the first 300 ms pause: no 1 s wait for more digits
    assert account["endpoint"] == "complete" and account["endpoint_ms"] < 500
    assert result.passed, result.failures  # the PIN was heard too: the balance was given


def test_transfers_carry_context_headers(suite) -> None:  # type: ignore[no-untyped-def]
    results, _, _ = suite
    _, line = results["billing_route"]
    assert line.transfers, "no transfer attempted"
    uri, headers = line.transfers[0]
    assert uri.startswith("sip:billing@")
    assert headers["X-Voicebot-Intent"] == "billing_question"
    assert headers["X-Voicebot-Reason"] == "routed"


def test_failed_transfer_takes_a_message(pipeline, event_loop_runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    case = load_case(CASES / "billing_route.yml")
    busy = SimulatedLine(case, transfer_result="busy")
    session = pipeline.session(busy)
    busy.session_idle = session.idle
    # the caller, told nobody can answer, leaves a message (reuse a recorded utterance)
    extra = load_case(CASES / "cancel_out_of_hours_message.yml").turns[-1]
    busy.case = type(case)(**{**case.__dict__, "turns": case.turns + (extra,)})
    result = event_loop_runner.run_until_complete(session.run())
    assert result.transfer == "billing:busy"
    assert result.outcome.kind == "message"
    stored = pipeline.bridge.desk.messages.all()[-1]
    assert stored.department == "billing" and stored.reason == "transfer_failed"
    assert stored.recording_path and Path(stored.recording_path).exists()


def test_words_after_a_held_pin_are_answered_after_it_even_with_a_slow_dialog(  # type: ignore[no-untyped-def]
    pipeline, event_loop_runner, monkeypatch
) -> None:
    """The PIN "12 34" is held as unsure, and the caller's "no thank you goodbye" 1 s later
    ends it: two turns at once. The second is answered once the reply to the first was
    spoken. Before, its reply was queued behind the first, and when the first reply's TTS
    finished before the second turn's dialog answered, the simulated line (its clock stands
    still until the session is idle) never played the first: the replay hung. The real
    dialog is made slow for goodbyes (2 s of wall time, as on a loaded machine) so that
    order is certain; the virtual timeline does not depend on it."""
    import asyncio

    case = load_case(CASES / "balance_fsdd_grouped.yml")
    line = SimulatedLine(case, rate=pipeline.rate)
    session = pipeline.session(line)
    line.session_idle = session.idle
    handle = session.bridge.handle

    async def slow_goodbye(call_id: str, text: str):  # type: ignore[no-untyped-def]
        if "goodbye" in text.lower():
            await asyncio.sleep(2.0)
        return await handle(call_id, text)

    monkeypatch.setattr(session.bridge, "handle", slow_goodbye)
    try:
        result = event_loop_runner.run_until_complete(asyncio.wait_for(session.run(), 180))
    finally:
        pipeline.bridge.forget(line.call_id)
    heard = [t.heard for t in result.turns]
    assert [t.intent for t in result.turns][-2:] == ["inform", "goodbye"], heard
    assert "1234" in heard[-2].replace(" ", "")
    said = [text for _, who, text in result.timeline if who == "bot"]
    balance = next(i for i, text in enumerate(said) if "balance is" in text)
    assert "Goodbye" in said[-1] and balance < len(said) - 1  # answered in order
    assert result.outcome.kind == "resolved"


def test_garbage_audio_case_is_a_clear_error(tmp_path: Path) -> None:
    from voicebot.errors import AudioError

    (tmp_path / "noise.wav").write_bytes(b"not a wav at all")
    case = tmp_path / "bad.yml"
    case.write_text("turns:\n  - audio: noise.wav\n")
    with pytest.raises(AudioError, match="noise.wav"):
        load_case(case)
