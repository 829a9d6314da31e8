"""A failure in the middle of a call hands the caller over; it never drops them.

Real components throughout: the trained dialog model, a real action server process, real
Whisper and Piper, the real VAD and turn-taking, on the simulated line (virtual clock) with
recorded callers from tests/audio. The faults:

* the action server: a real process on its own port, stopped mid-call (after the greeting);
* the speech model and the TTS voice: the real engines wrapped so that, from a chosen moment
  on, they raise the error a broken model raises (:class:`ModelError`). The wrapper is the
  fault injection (a model file cannot be broken under a loaded engine); everything else
  is real.

Each call must end with a hand-off record (reason ``technical_error``) written before a
transfer to the default department, the apology audible in the bot's audio (Whisper hears
"sorry" in it), and the error code in the call result; when that transfer fails, a message
is stored before "saved" is said.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from voicebot.errors import ModelError
from voicebot.handoff import HandoffLog
from voicebot.line import LineInput
from voicebot.messages import MessageStore
from voicebot.replay.cases import CallerTurn, load_case
from voicebot.replay.simline import SimulatedLine

CASES = Path(__file__).resolve().parent / "audio"
FROZEN_NOW = "2026-11-23T18:30:00+00:00"  # the action server's clock (tests/conftest.py)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def pipeline(rasa_agent):  # type: ignore[no-untyped-def]
    from voicebot.config import load_settings
    from voicebot.pipeline import Pipeline

    os.environ["VOICEBOT_NOW"] = FROZEN_NOW  # Monday 18:30: customer service is open
    return Pipeline.load(load_settings(), agent=rasa_agent)


class WatchedLine(SimulatedLine):
    """The simulated line, plus: a hook run at the caller's first input (the fault), the
    number of hand-off records and messages on disk when each transfer and each play began."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.on_first_input: Callable[[], None] | None = kwargs.pop("on_first_input", None)
        self.handoff_log: HandoffLog = kwargs.pop("handoff_log")
        self.message_store: MessageStore = kwargs.pop("message_store")
        super().__init__(*args, **kwargs)
        self.records_at_transfer: list[int] = []
        self.messages_at_play: list[int] = []

    async def inputs(self) -> AsyncIterator[LineInput]:  # type: ignore[override]
        first = True
        async for item in super().inputs():
            if first and self.on_first_input is not None:
                self.on_first_input()
            first = False
            yield item

    async def transfer(self, uri: str, headers: dict[str, str]):  # type: ignore[no-untyped-def]
        self.records_at_transfer.append(len(self.handoff_log.read_all()))
        return await super().transfer(uri, headers)

    async def play(self, samples) -> None:  # type: ignore[no-untyped-def]
        self.messages_at_play.append(len(self.message_store.all()))
        await super().play(samples)


class FailingRecognizer:
    """The real recogniser; from the ``fail_from``-th finished utterance on, it raises."""

    def __init__(self, real: Any, fail_from: int) -> None:
        self.real = real
        self.fail_from = fail_from
        self.finished = 0

    def open_stream(self, *args: Any, **kwargs: Any) -> Any:
        return _FailingStream(self.real.open_stream(*args, **kwargs), self)


class _FailingStream:
    def __init__(self, real: Any, owner: FailingRecognizer) -> None:
        self.real, self.owner = real, owner

    def accept(self, samples: Any) -> Any:
        return self.real.accept(samples)

    def preview(self) -> Any:
        return self.real.preview()

    def finish(self) -> Any:
        self.owner.finished += 1
        if self.owner.finished >= self.owner.fail_from:
            raise ModelError("speech model failed: cannot decode (injected fault)")
        return self.real.finish()


class FailingSpeaker:
    """The real TTS voice; once ``failing`` is set, every synthesis raises."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.sample_rate = real.sample_rate
        self.failing = False

    def sentences(self, text: str) -> Iterator[Any]:
        if self.failing:
            raise ModelError("TTS voice failed (injected fault)")
        return self.real.sentences(text)

    def warm(self, prompts: list[str]) -> int:
        return 0


def _bridge(agent: Any, tmp: Path):  # type: ignore[no-untyped-def]
    from voicebot.dialog.bridge import DialogBridge

    return DialogBridge(
        agent,
        handoffs=HandoffLog(tmp / "handoffs.jsonl"),
        messages=MessageStore(tmp / "messages.sqlite3"),
    )


def _run(pipeline, loop, line: WatchedLine, bridge, *, recognizer=None, speaker=None, fallback=...):  # type: ignore[no-untyped-def]
    from voicebot.audio.vad import SpeechDetector
    from voicebot.session import CallSession
    from voicebot.turns import TurnTaker

    session = CallSession(
        line,
        bridge,
        recognizer or pipeline.recognizer,
        speaker or pipeline.speaker,
        SpeechDetector(pipeline.vad, pipeline.rate),
        TurnTaker(pipeline.turns),
        pipeline.session_cfg,
        pipeline.departments,
        fallback=pipeline.fallback if fallback is ... else fallback,
    )
    line.session_idle = session.idle
    result = loop.run_until_complete(session.run())
    bridge.forget(line.call_id)
    return result


def _heard_after(pipeline, line: SimulatedLine, start_s: float) -> str:  # type: ignore[no-untyped-def]
    """What real Whisper hears in the bot's audio from ``start_s`` on."""
    audio = line.bot_audio()[int(start_s * line.rate) :]
    assert np.abs(audio).max() > 1000, "the bot was silent"
    stream = pipeline.recognizer.open_stream("free", sample_rate=line.rate)
    stream.accept(audio[: 25 * line.rate])
    return str(stream.finish().text).lower()


def _assert_handed_over(result, line: WatchedLine, code: str) -> None:  # type: ignore[no-untyped-def]
    assert result.failure == code, result.errors
    assert any(e.startswith(code) for e in result.errors), result.errors
    records = line.handoff_log.read_all()
    assert records, "no hand-off record"
    assert records[-1]["reason"] == "technical_error"
    assert records[-1]["department"] == "customer_service"
    # the record was on disk before the transfer started
    assert line.transfers and line.records_at_transfer[-1] == len(records)
    uri, headers = line.transfers[-1]
    assert uri.startswith("sip:customer_service@") or "customer" in uri, uri
    assert headers["X-Voicebot-Reason"] == "technical_error"


def test_action_server_stopped_mid_call(pipeline, rasa_agent, event_loop_runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A real action server process is stopped after the greeting; the caller then asks
    something a custom action answers (opening hours)."""
    from rasa.utils.endpoints import EndpointConfig

    from voicebot.dialog.action_server import ActionServer

    state = Path(tempfile.mkdtemp(prefix="voicebot-actions-kill-"))
    endpoint = f"http://127.0.0.1:{free_port()}/webhook"
    server = ActionServer(
        endpoint,
        env={
            "VOICEBOT_NOW": FROZEN_NOW,
            "VOICEBOT_VAR": str(state),
            "VOICEBOT_DEMO_CUSTOMERS": "1",
        },
        log_path=state / "action-server.log",
    )
    server.start(timeout_s=90, reuse=False)
    processor = rasa_agent.processor
    saved = (processor.action_endpoint, rasa_agent.action_endpoint)
    processor.action_endpoint = rasa_agent.action_endpoint = EndpointConfig(url=endpoint)
    bridge = _bridge(rasa_agent, tmp_path)
    line = WatchedLine(
        load_case(CASES / "hours_us_male.yml"),
        call_id="c-kill",
        on_first_input=server.stop,
        handoff_log=bridge.desk.handoffs,
        message_store=bridge.desk.messages,
    )
    try:
        result = _run(pipeline, event_loop_runner, line, bridge)
    finally:
        processor.action_endpoint, rasa_agent.action_endpoint = saved
        server.stop()
    assert result.greeting, "the greeting (with the action server up) was not given"
    _assert_handed_over(result, line, "dialog-failed")
    assert "custom action" in result.errors[0]
    assert result.outcome.kind == "routed" and str(result.outcome.reason) == "technical_error"
    assert result.transfer == "customer_service:accepted"
    apology_at = next(t for t, who, text in result.timeline if who == "bot" and "sorry" in text)
    assert "sorry" in _heard_after(pipeline, line, apology_at)


def test_speech_model_failure(pipeline, rasa_agent, event_loop_runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The first answer is heard; the speech model fails on the second."""
    recognizer = FailingRecognizer(pipeline.recognizer, fail_from=2)
    bridge = _bridge(rasa_agent, tmp_path)
    line = WatchedLine(
        load_case(CASES / "hours_us_male.yml"),
        call_id="c-asr",
        handoff_log=bridge.desk.handoffs,
        message_store=bridge.desk.messages,
    )
    result = _run(pipeline, event_loop_runner, line, bridge, recognizer=recognizer)
    _assert_handed_over(result, line, "model-missing")
    assert result.turns and "open" in result.turns[0].heard.lower()  # the first turn was heard
    assert result.transfer == "customer_service:accepted"
    apology_at = next(t for t, who, text in result.timeline if who == "bot" and "sorry" in text)
    assert "sorry" in _heard_after(pipeline, line, apology_at)


def test_tts_failure_plays_the_prepared_apology(
    pipeline, rasa_agent, event_loop_runner, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """TTS fails after the greeting: the apology synthesized when the pipeline loaded plays."""
    speaker = FailingSpeaker(pipeline.speaker)
    bridge = _bridge(rasa_agent, tmp_path)
    line = WatchedLine(
        load_case(CASES / "hours_us_male.yml"),
        call_id="c-tts",
        on_first_input=lambda: setattr(speaker, "failing", True),
        handoff_log=bridge.desk.handoffs,
        message_store=bridge.desk.messages,
    )
    result = _run(pipeline, event_loop_runner, line, bridge, speaker=speaker)
    _assert_handed_over(result, line, "model-missing")
    assert result.transfer == "customer_service:accepted"
    apology_at = next(t for t, who, text in result.timeline if who == "bot" and "sorry" in text)
    heard = _heard_after(pipeline, line, apology_at)
    assert "sorry" in heard and "colleague" in heard, heard


def test_failed_fallback_transfer_takes_a_message(
    pipeline, rasa_agent, event_loop_runner, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """TTS fails and the default department does not answer: the caller's next words are
    kept as a message (recording + real Whisper transcript), stored before "saved"."""
    speaker = FailingSpeaker(pipeline.speaker)
    bridge = _bridge(rasa_agent, tmp_path)
    case = load_case(CASES / "hours_us_male.yml")
    # after the message the caller waits on the line to hear it was saved
    case = replace(case, turns=(*case.turns, CallerTurn("pause", pause_s=8.0)))
    line = WatchedLine(
        case,
        call_id="c-msg",
        on_first_input=lambda: setattr(speaker, "failing", True),
        handoff_log=bridge.desk.handoffs,
        message_store=bridge.desk.messages,
        transfer_result="busy",
    )
    os.environ["VOICEBOT_VAR"], var = str(tmp_path), os.environ["VOICEBOT_VAR"]
    try:
        result = _run(pipeline, event_loop_runner, line, bridge, speaker=speaker)
    finally:
        os.environ["VOICEBOT_VAR"] = var
    _assert_handed_over(result, line, "model-missing")
    assert result.transfer == "customer_service:busy"
    stored = bridge.desk.messages.all()
    assert len(stored) == 1, ([(round(t, 2), w, x[:20]) for t, w, x in result.timeline], line.now())
    msg = stored[0]
    assert msg.reason == "technical_error" and msg.department == "customer_service"
    assert "goodbye" in msg.text.lower()  # the caller's second turn, heard by real Whisper
    assert msg.recording_path and Path(msg.recording_path).is_relative_to(tmp_path)
    assert result.outcome.kind == "message"
    said = [text for _, who, text in result.timeline if who == "bot"]
    assert said[-1].startswith("Thank you, your message has been saved")
    # "saved" was played only once the message was on disk
    assert line.messages_at_play[-1] == 1 and line.messages_at_play[0] == 0
    assert line.hung_up_by_bot


def test_failure_inside_the_failure_path_still_hands_over(
    rasa_agent, pipeline, event_loop_runner, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """TTS fails with no prompts prepared and the hand-off log cannot be written: a tone
    stands in for the apology, and the transfer is still attempted."""
    from voicebot.fallback import FallbackPrompts

    speaker = FailingSpeaker(pipeline.speaker)
    bridge = _bridge(rasa_agent, tmp_path)
    (tmp_path / "broken").mkdir()
    bridge.desk.handoffs = HandoffLog(tmp_path / "broken")  # a folder: every write fails
    line = WatchedLine(
        load_case(CASES / "hours_us_male.yml"),
        call_id="c-double",
        on_first_input=lambda: setattr(speaker, "failing", True),
        handoff_log=HandoffLog(tmp_path / "none.jsonl"),
        message_store=bridge.desk.messages,
    )
    result = _run(
        pipeline, event_loop_runner, line, bridge, speaker=speaker,
        fallback=FallbackPrompts(pipeline.rate, speaker),
    )  # fmt: skip
    assert result.failure == "model-missing"
    assert any(e.startswith("store-failed") for e in result.errors), result.errors
    assert line.transfers and line.transfers[-1][1]["X-Voicebot-Reason"] == "technical_error"
    assert result.transfer == "customer_service:accepted"
    assert "[tone]" in [text for _, who, text in result.timeline if who == "bot"]
    tone_at = next(t for t, who, text in result.timeline if who == "bot" and text == "[tone]")
    tail = line.bot_audio()[int(tone_at * line.rate) :]
    assert np.abs(tail).max() > 3000  # the tone is there: not silence
