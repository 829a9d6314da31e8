"""One outbound survey call: the opening, consent, the campaign's questions, the end.

:func:`run_survey` is what the dialer's SIP callee calls once a person (not a machine) has
answered. It drives the same per-call pipeline as an inbound call (VAD, ASR, turns, the
Rasa dialog, TTS: :class:`~voicebot.session.CallSession`) over ``line``, but starts the
dialog with the campaign's survey intent (``spec.dialog``, e.g. ``survey_csat``) and script
instead of the inbound greeting. The survey itself is the Rasa form ``survey_form``
(``dialogs/survey.yml``); its validation action (``dialogs/actions/survey.py``) types each
answer (:mod:`voicebot.center.campaigns.answers`) and reports it the moment it is taken, so
``answer(question_id, value)`` is called as the call goes on: a callee who hangs up
mid-survey keeps the answers given so far.

Keypad answers: one key completes a 1-5, yes/no (1 = yes, 2 = no) or choice answer; a 0-10
answer takes up to two keys (``#`` or a pause ends ``7``). Silence is asked about again
(``session.max_no_input``), then the bot says goodbye and hangs up (no hand-off: an
outbound callee did not ask for anyone).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from voicebot.audio.vad import SpeechDetector
from voicebot.center.campaigns.answers import heard_as
from voicebot.center.campaigns.callback_time import callback_time
from voicebot.center.campaigns.questions import SurveyScript
from voicebot.center.campaigns.spec import CampaignSpec
from voicebot.center.campaigns.store import DueContact
from voicebot.events import DialogReply, ExpectedInput, NoInput
from voicebot.line import Line
from voicebot.replay.simline import SimulatedLine
from voicebot.session import CallSession, TurnLog
from voicebot.turns import TurnTaker

if TYPE_CHECKING:
    from voicebot.pipeline import Pipeline

log = logging.getLogger(__name__)

#: how the survey dialog's read-back of an unclear answer ends (dialogs/actions/survey.py)
READ_BACK_END = "Is that right?"
NO_INPUT_GOODBYE = "I'm having trouble hearing you, so we'll leave it there for now. Goodbye."


@dataclass
class SurveyEnd:
    """How one survey call ended.

    Attributes:
        consented: the callee agreed to take the survey.
        completed: the callee went through every question (an answer may still be missing
            when it stayed unclear after one reprompt; ``answers`` has what was taken).
        callback_at: the callee asked to be called back then (epoch s), else None.
        opted_out: the callee asked never to be called again (add to do-not-call).
        answers: question id -> typed answer (``"4"``, ``"yes"``, a choice, a comment), as
            confirmed; also ``consent`` -> ``yes``/``no``.
        outcome: ``completed``, ``refused``, ``later``, ``opt_out``, ``hung_up`` (the
            callee hung up first), ``no_input`` (stayed silent) or ``failed``.
        call: the session's :class:`~voicebot.calllog.CallResult` (turn logs, timeline).
    """

    consented: bool = False
    completed: bool = False
    callback_at: float | None = None
    opted_out: bool = False
    answers: dict[str, str] = field(default_factory=dict)
    outcome: str = "hung_up"
    call: Any = None


class SurveySession(CallSession):
    """A :class:`CallSession` that starts the survey instead of the inbound greeting,
    passes each confirmed answer on at once and never hands an outbound callee over for
    silence."""

    def __init__(
        self,
        *args: Any,
        spec: CampaignSpec,
        script: SurveyScript,
        answer: Callable[[str, str], None],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.spec = spec
        self.script = script
        self.answer = answer
        self.end = SurveyEnd()
        self.callback_text: str | None = None
        self._seen = 0

    async def _open(self) -> DialogReply:
        """The survey's opening and consent question instead of the inbound greeting."""
        await self.bridge.start(self.call_id, None, getattr(self.line, "sip_call_id", None))
        return await self.bridge.start_survey(self.call_id, self.spec.dialog, self.script.to_json())

    def _after_reply(
        self, reply: DialogReply, entry: TurnLog | None, turn_started: float | None = None
    ) -> None:
        self._take_survey_events()
        super()._after_reply(reply, entry, turn_started)

    def _take_survey_events(self) -> None:
        """Pass the answers the dialog took in this turn to ``answer`` (recorded at once)."""
        events = self.bridge.conversation(self.call_id).survey
        for event in events[self._seen :]:
            if event.get("type") == "survey_answer":
                question, value = str(event["question"]), str(event["value"])
                self.end.answers[question] = value
                if question == "consent":
                    self.end.consented = value == "yes"
                self.answer(question, value)
            elif event.get("type") == "survey_end":
                self.end.outcome = str(event.get("outcome") or "completed")
                self.callback_text = event.get("callback")
        self._seen = len(events)

    def _say(self, texts: tuple[str, ...] | list[str], **kwargs: Any) -> None:
        keys = self._answer_keys()
        if keys is not None:
            kwargs["keypad"] = keys
        if kwargs.get("expect", "free") == "free":
            kwargs["expect"] = self._answer_mode()
        super()._say(texts, **kwargs)

    def _answer_mode(self) -> ExpectedInput:
        """How the next answer is heard (:func:`~voicebot.center.campaigns.answers.heard_as`):
        consent and comments freely (consent is as often "call me later" or "don't call me
        again" as yes or no), a rating or score with numbers as context, a read-back ("I
        heard seven. Is that right?") with numbers and yes/no as context."""
        conv = self.bridge.conversation(self.call_id)
        slot = conv.requested_slot or ""
        if not slot.startswith("survey_q"):
            return "free"
        index = int(slot.removeprefix("survey_q"))
        if index > len(self.script.questions):
            return "free"
        if conv.last_bot_texts and conv.last_bot_texts[-1].endswith(READ_BACK_END):
            return "answer"
        return heard_as(self.script.question(index))

    def _answer_keys(self) -> int | None:
        """Keys that complete a keypad answer to the question being asked now."""
        slot = self.bridge.conversation(self.call_id).requested_slot or ""
        if slot == "survey_consent":
            return 1
        if not slot.startswith("survey_q"):
            return None
        index = int(slot.removeprefix("survey_q"))
        if index > len(self.script.questions):
            return None
        kind = self.script.question(index).type
        return {"nps_0_10": 2, "comment": None}.get(kind, 1)

    def _no_input(self, event: NoInput) -> None:
        if self._done or event.count < self.cfg.max_no_input:
            super()._no_input(event)
            return
        self._done = True
        self.end.outcome = "no_input"
        self._say((NO_INPUT_GOODBYE,), then=self.exits.hangup)


def survey_session(
    line: Line,
    pipeline: Pipeline,
    spec: CampaignSpec,
    contact: DueContact,
    answer: Callable[[str, str], None],
) -> SurveySession:
    """The survey session for one answered call, built like :meth:`Pipeline.session`."""
    script = spec.survey
    opening = script.opening.format(name=contact.name.strip() or "there")
    if pipeline.recorder is not None:
        line = pipeline.recorder.wrap_line(line)
    return SurveySession(
        line,
        pipeline.bridge,
        pipeline.recognizer,
        pipeline.speaker,
        SpeechDetector(pipeline.vad, pipeline.rate),
        TurnTaker(pipeline.turns),
        pipeline.session_cfg,
        pipeline.departments,
        fallback=pipeline.fallback,
        recorder=pipeline.recorder,
        spec=spec,
        script=SurveyScript(opening, script.consent, script.questions),
        answer=answer,
    )


async def run_survey(
    line: Line,
    pipeline: Pipeline,
    spec: CampaignSpec,
    contact: DueContact,
    answer: Callable[[str, str], None],
) -> SurveyEnd:
    """Run the survey of ``spec`` with ``contact`` on an answered ``line``; returns when the
    survey ends (the bot hangs up) or the callee hangs up.

    Args:
        line: the answered call (SIP or simulated), see :class:`voicebot.line.Line`.
        pipeline: the loaded or connected :class:`voicebot.pipeline.Pipeline` (the same
            object inbound calls use: ``Pipeline.load()`` or ``Pipeline.connect()``).
        spec: the campaign (its ``opening``, consent question and ``questions``).
        contact: who is called (name for the opening, time zone for the callback time).
        answer: called as ``answer(question_id, value)`` when each answer is confirmed
            (and ``answer("consent", "yes"|"no")``); the dialer stores it at once.

    Returns:
        :class:`SurveyEnd`. A failure inside the call (ASR, dialog, TTS) ends on the
        session's failure path (an apology, a hand-off record) with outcome ``failed``;
        the answers taken before it were already passed to ``answer``.
    """
    session = survey_session(line, pipeline, spec, contact, answer)
    if isinstance(line, SimulatedLine) and line.session_idle is None:
        line.session_idle = session.idle  # the simulated callee waits while the bot works
    try:
        result = await session.run()
    finally:
        forget = getattr(pipeline.bridge, "end_call", None)
        try:
            if forget is not None:
                await forget(line.call_id)
            else:
                pipeline.bridge.forget(line.call_id)
        except Exception as exc:  # noqa: BLE001 - the call is over; its answers are kept
            log.warning("survey call %s: could not drop the conversation: %s", line.call_id, exc)
    end = session.end
    end.call = result
    if result.failure is not None:
        end.outcome = "failed"
    end.completed = end.outcome == "completed"
    end.opted_out = end.outcome == "opt_out"
    if end.outcome == "later":
        end.callback_at = callback_time(
            session.callback_text or "", time.time(), contact.timezone, spec
        )
    return end
