"""One campaign call over SIP, inside a dialer process: dial, classify, survey or message.

:func:`place_call` dials the contact on an :class:`~voicebot.telephony.outbound.OutboundLine`
and turns what happened into a :class:`~voicebot.center.campaigns.dialer.CallOutcome`:

* 486 / 600 -> ``busy``; the ring timeout (CANCEL) -> ``no_answer``; any other failure ->
  ``failed`` with the SIP status in the detail;
* 200 -> answering-machine detection (:mod:`voicebot.center.campaigns.amd`) on the callee's
  first seconds; a machine gets the campaign's ``machine.action`` (``message``: wait for
  the beep or the end of the greeting, play the message, hang up; ``hangup``) and the
  detail records which; a person gets the survey (:class:`Voice`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from voicebot.center.campaigns.amd import AmdConfig, AmdDetector, AmdResult
from voicebot.center.campaigns.dialer import CallOutcome
from voicebot.center.campaigns.keypad_survey import keypad_survey
from voicebot.center.campaigns.outbound_settings import OutboundSettings
from voicebot.center.campaigns.spec import CampaignSpec
from voicebot.center.campaigns.store import DueContact
from voicebot.errors import VoicebotError
from voicebot.telephony.callio import CallIO

if TYPE_CHECKING:
    from voicebot.telephony.outbound import OutboundLine

log = logging.getLogger(__name__)

Answer = Callable[[str, str], None]


@dataclass
class Voice:
    """What a dialer process speaks and listens with.

    Attributes:
        speaker: TTS with ``sentences(text) -> int16 arrays`` at 8 kHz (the speech service's
            or an in-process Piper voice).
        pipeline: the full voice pipeline for the spoken survey dialog (None: keypad survey).
        survey: ``run_survey(line, pipeline, spec, contact, answer)`` of the survey dialog
            (``outbound.survey: spoken``), or None for the keypad survey.
    """

    speaker: Any
    pipeline: Any = None
    survey: Any = None
    _cache: dict[str, bytes] | None = None

    def pcm(self, text: str) -> bytes:
        """``text`` spoken, PCM16 8 kHz (kept: campaigns repeat the same prompts)."""
        if self._cache is None:
            self._cache = {}
        if text not in self._cache:
            parts = [np.asarray(p, dtype=np.int16) for p in self.speaker.sentences(text)]
            audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
            self._cache[text] = audio.astype("<i2").tobytes()
        return self._cache[text]


async def place_call(
    line: OutboundLine,
    voice: Voice,
    spec: CampaignSpec,
    contact: DueContact,
    answer: Answer,
    cfg: OutboundSettings,
) -> CallOutcome:
    """Call ``contact`` and run the survey or the machine action (see the module docstring)."""
    uri = cfg.dial_uri(contact.phone)
    call = await line.dial(uri, caller_id=spec.caller_id, ring_timeout_s=cfg.ring_timeout_s)
    if call.timed_out:
        return CallOutcome("no_answer", f"no answer in {cfg.ring_timeout_s:g} s; CANCEL")
    if call.status in (486, 600):
        return CallOutcome("busy", f"SIP {call.status} {call.reason}")
    if call.status != 200 or call.io is None:
        return CallOutcome("failed", f"SIP {call.status} {call.reason}".strip())
    io = call.io
    try:
        amd_cfg = AmdConfig(max_wait_beep_s=cfg.machine_wait_s)
        detector = AmdDetector(amd_cfg)
        verdict = await _listen(io, detector, cfg.max_amd_s)
        if verdict is None:
            return CallOutcome("answered", "hung up before the survey")
        if verdict.verdict == "machine":
            detail = await _machine(io, detector, spec, voice, verdict)
            return CallOutcome("machine", detail)
        return await _person(io, voice, spec, contact, answer, cfg, verdict)
    finally:
        call.finish()


async def _listen(io: CallIO, detector: AmdDetector, max_s: float) -> AmdResult | None:
    """Feed the callee's frames to ``detector`` until it decides (None: hung up)."""
    frames = 0
    while True:
        frame = await io.audio.get()
        if frame is None:
            return None
        result = detector.feed(frame)
        frames += 1
        if result is not None:
            return result
        if frames * 0.02 >= max_s:
            return AmdResult("person", "undecided", round(frames * 0.02, 2))


async def _machine(
    io: CallIO, detector: AmdDetector, spec: CampaignSpec, voice: Voice, verdict: AmdResult
) -> str:
    """The campaign's machine action; returns the detail to record."""
    why = f"machine ({verdict.reason} at {verdict.at_s:.1f} s)"
    if spec.machine_action == "hangup":
        return f"{why}; hung up"
    while (over := detector.greeting_over()) is None:
        frame = await io.audio.get()
        if frame is None:
            return f"{why}; machine hung up before the message"
        detector.feed(frame)
    pcm = await asyncio.get_running_loop().run_in_executor(None, voice.pcm, spec.machine_message)
    played = await io.play(pcm)
    if not played.completed:
        return f"{why}; message cut after {played.played_ms / 1000:.1f} s ({over})"
    return f"{why}; message left after the {over}"


async def _person(
    io: CallIO,
    voice: Voice,
    spec: CampaignSpec,
    contact: DueContact,
    answer: Answer,
    cfg: OutboundSettings,
    verdict: AmdResult,
) -> CallOutcome:
    note = f"person ({verdict.reason})"
    if voice.survey is not None and voice.pipeline is not None:
        from voicebot.callhandler import CallIOLine

        end = await voice.survey(CallIOLine(io), voice.pipeline, spec, contact, answer)
        return _survey_outcome(end, f"{note}; spoken survey")
    try:
        end = await keypad_survey(io, voice.pcm, answer, cfg.keypad_answer_s)
    except VoicebotError as exc:
        log.warning("campaign %s: survey failed: %s", spec.name, exc)
        return CallOutcome("answered", f"{note}; survey failed: {exc.code}")
    return _survey_outcome(end, f"{note}; keypad survey")


def _survey_outcome(end: Any, note: str) -> CallOutcome:
    if end.opted_out:
        what = "do not call"
    elif end.callback_at is not None:
        what = "call me later"
    elif end.completed:
        what = "completed"
    elif end.consented:
        what = "hung up mid-survey"
    else:
        what = "no consent"
    return CallOutcome(
        "answered", f"{note}; {what}", callback_at=end.callback_at, opted_out=end.opted_out
    )
