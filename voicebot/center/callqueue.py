"""The department queue on a live SIP call: :class:`CallQueueLine`, the
:class:`~voicebot.center.distributor.QueueLine` of one caller over a
:class:`~voicebot.telephony.callio.CallIO`.

While the caller waits they hear the announcements (position, expected wait, the message
option) in the bot's voice and, between them, comfort audio (a soft chime every few seconds:
nobody waits in silence). Pressing :data:`~voicebot.center.announce.MESSAGE_KEY` asks to
leave a message (the digits reach :meth:`CallQueueLine.key`); a hang-up is an abandon.
Ringing an agent is :meth:`CallIO.ring_agent` to ``sip:<sip_user>@<proxy>`` (Kamailio finds
the registered phone), with the whisper sentence synthesized for the agent's ear only::

    line = CallQueueLine(call, speak, roster, "127.0.0.1:5060", whisper_text, headers)
    stay = await Distributor(board).serve(call_id, "billing", line)

``speak(text)`` returns PCM16 mono 8 kHz bytes (the bot's TTS, run off the event loop by
the caller of this module if it is slow).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

import numpy as np

from voicebot.center.agents import AgentRoster, load_agents
from voicebot.center.announce import (
    MESSAGE_KEY,
    REFUSE_KEY,
    message_offer,
    queue_announcement,
    whisper_text,
)
from voicebot.center.board import Offer, OfferResult
from voicebot.center.board_api import Board, board_epoch, open_board
from voicebot.center.distributor import Distributor, QueueStay
from voicebot.config import Settings
from voicebot.errors import VoicebotError
from voicebot.records.store import RecordStore, utcnow
from voicebot.telephony.callio import SAMPLE_RATE, CallIO

log = logging.getLogger(__name__)

Speak = Callable[[str], Awaitable[bytes]]
"""Text to PCM16 mono 8 kHz bytes, the bot's voice."""

CHIME_EVERY_S = 4.0
"""Seconds between two comfort chimes."""


def comfort_chime(seconds: float = CHIME_EVERY_S, level: float = 0.08) -> bytes:
    """One comfort cycle: a soft two-note chime (0.5 s) then quiet, PCM16 8 kHz bytes."""
    t = np.arange(int(0.25 * SAMPLE_RATE)) / SAMPLE_RATE
    fade = np.sin(np.pi * t / t[-1])
    notes = [np.sin(2 * math.pi * f * t) * fade for f in (660.0, 523.0)]
    chime = np.concatenate(notes) * level * 32767
    rest = np.zeros(max(0, int(seconds * SAMPLE_RATE) - chime.size))
    return np.concatenate([chime, rest]).astype("<i2").tobytes()


class CallQueueLine:
    """One waiting caller's :class:`~voicebot.center.distributor.QueueLine` on SIP.

    Args:
        call: the caller's call.
        speak: the bot's voice (text -> PCM bytes).
        roster: the agents (their SIP users).
        proxy: ``address:port`` of the Kamailio the agents' phones registered to.
        whisper: the sentence the agent hears before the caller is joined (spoken at the
            first ring, so the caller's first announcement does not wait for it).
        headers: context on the INVITE to the agent (``X-Voicebot-*``, no secrets).
    """

    def __init__(
        self,
        call: CallIO,
        speak: Speak,
        roster: AgentRoster,
        proxy: str,
        whisper: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.call = call
        self.speak = speak
        self.roster = roster
        self.proxy = proxy
        self.whisper = whisper
        self._whisper_pcm: bytes | None = None
        self.headers = dict(headers or {})
        self._message = False
        self._comfort: asyncio.Task[None] | None = None
        self.said: list[str] = []
        """Every sentence spoken to the caller, in order (for the call record and tests)."""

    # ------------------------------------------------------------------ QueueLine

    @property
    def caller_gone(self) -> bool:
        return self.call.closed.is_set()

    @property
    def wants_message(self) -> bool:
        return self._message

    def key(self, digit: str) -> None:
        """A key the caller pressed while waiting."""
        if digit == MESSAGE_KEY:
            self.message_asked()

    def message_asked(self) -> None:
        """The caller asked for a message (the key, or said so)."""
        self._message = True
        self._stop_comfort()
        self.call.stop_playback()  # the announcement too: the distributor moves on

    async def announce(self, position: int, wait_s: float, first: bool) -> None:
        await self._say(queue_announcement(position, wait_s, first=first))
        self._start_comfort()

    async def offer_message(self) -> None:
        await self._say(message_offer())
        self._start_comfort()

    async def ring(self, offer: Offer, timeout_s: float) -> OfferResult:
        agent = self.roster.get(offer.agent)
        self._start_comfort()  # the caller hears the chime while the agent is rung
        if self._whisper_pcm is None:
            self._whisper_pcm = await self._speak_unless_gone(self.whisper)
            if self._whisper_pcm is None:
                return "failed"  # the caller hung up
        result = await self.call.ring_agent(
            f"sip:{agent.sip_user}@{self.proxy}",
            self.headers,
            self._whisper_pcm,
            timeout_s,
            refuse_key=REFUSE_KEY,
        )
        if result == "answered":
            self._stop_comfort()
        return result

    async def connected(self, offer: Offer) -> None:
        await self.call.wait_closed()

    # ------------------------------------------------------------------ audio

    async def close(self) -> None:
        """Stop the comfort audio (the queue is over)."""
        self._stop_comfort()

    async def _say(self, text: str) -> None:
        self._stop_comfort()
        self.said.append(text)
        pcm = await self._speak_unless_gone(text)
        if pcm is not None and not self._message:
            await self.call.play(pcm)

    async def _speak_unless_gone(self, text: str) -> bytes | None:
        """The TTS of ``text``; None as soon as the caller hangs up (no waiting for it)."""
        speech = asyncio.ensure_future(self.speak(text))
        gone = asyncio.ensure_future(self.call.closed.wait())
        await asyncio.wait({speech, gone}, return_when=asyncio.FIRST_COMPLETED)
        gone.cancel()
        if not speech.done():
            speech.cancel()
            return None
        return None if self.caller_gone else speech.result()

    def _start_comfort(self) -> None:
        if self._comfort is None or self._comfort.done():
            self._comfort = asyncio.ensure_future(self._comfort_loop())

    def _stop_comfort(self) -> None:
        if self._comfort is not None and not self._comfort.done():
            self._comfort.cancel()
            self.call.stop_playback()
        self._comfort = None

    async def _comfort_loop(self) -> None:
        chime = comfort_chime()
        with contextlib.suppress(asyncio.CancelledError):
            while not self.caller_gone:
                await self.call.play(chime)


class AcdLine:
    """The built-in ACD for the calls of one worker (``sip.acd`` on).

    A hand-off to a department that has agents in ``agents.yml`` is served from the
    department's queue (:meth:`hand_off`) instead of a transfer to its ``transfer_uri``.

    Args:
        roster: the agents.
        board: the agent board (``sip.acd_board``: SQLite on this host or Redis shared by
            hosts), shared with the supervisor.
        proxy: ``address:port`` of the Kamailio the phones registered to.
        departments: department key by ``transfer_uri``.
        records: the call records, where each queued call's stay is written (ACD
            statistics, :mod:`voicebot.records.acd`); None: not written.
    """

    def __init__(
        self,
        roster: AgentRoster,
        board: Board,
        proxy: str,
        departments: Mapping[str, str],
        records: RecordStore | None = None,
    ) -> None:
        self.roster = roster
        self.board = board
        self.proxy = proxy
        self.departments = dict(departments)
        self.records = records

    @classmethod
    def load(cls, settings: Settings, departments: Any) -> AcdLine | None:
        """From the settings and the departments (None when ``sip.acd`` is off)."""
        from voicebot.config import section_to
        from voicebot.telephony.settings import SipSettings

        sip = section_to(SipSettings, settings, "sip")
        if not sip.acd:
            return None
        roster = load_agents()
        by_uri = {}
        for key, dept in (getattr(departments, "departments", None) or {}).items():
            by_uri[str(dept.transfer_uri)] = str(key)
        board = open_board(settings, roster)
        return cls(roster, board, f"{sip.address}:{sip.port}", by_uri, _open_records(settings))

    async def feature_call(self, call: CallIO, speak: Speak) -> bool:
        """An agent dialling a keypad code (pause, resume) from their phone: served, True."""
        from voicebot.center.featurecodes import feature_call

        return await feature_call(call, self.roster, self.board, speak)

    def department_for(self, uri: str) -> str | None:
        """The department a hand-off to ``uri`` goes to, if it has agents of its own."""
        key = self.departments.get(uri)
        return key if key is not None and self.roster.for_department(key) else None

    async def hand_off(
        self,
        call: CallIO,
        department: str,
        headers: Mapping[str, str],
        whisper: str,
        speak: Speak,
        recognizer: Any = None,
    ) -> QueueStay:
        """Queue the caller for ``department`` until an agent took the call and it ended,
        the caller asked to leave a message (key, or said so when ``recognizer`` is given:
        the bot's ASR), or hung up."""
        from voicebot.center.queuespeech import SpokenRequest

        line = CallQueueLine(call, speak, self.roster, self.proxy, whisper, headers)
        tasks = [asyncio.ensure_future(_read_keys(call, line))]
        if recognizer is not None:
            words = SpokenRequest(recognizer, line.message_asked)
            tasks.append(asyncio.ensure_future(words.run(call)))
        loop = asyncio.get_running_loop()
        joined, started = utcnow(), loop.time()
        call_ref = call.details.call_id
        stay: QueueStay | None = None
        try:
            distributor = Distributor(self.board, epoch=board_epoch(self.board, loop.time()))
            stay = await distributor.serve(call_ref, department, line)
            return stay
        finally:
            # written once, here (a few ms): an await could be cancelled with the call;
            # no stay = the call ended under the queue (cancelled): abandoned
            gone = QueueStay("abandoned", None, loop.time() - started, (), 0)
            self._record(call_ref, department, joined, stay or gone)
            for task in tasks:
                task.cancel()
            await line.close()

    def _record(self, call_ref: str, department: str, joined: datetime, stay: QueueStay) -> None:
        """Write the stay to the call records; a failing database is logged, not fatal."""
        if self.records is None:
            return
        from voicebot.records.acd import record_stay

        try:
            record_stay(
                self.records, call_ref, department, joined, stay, self.roster.acd.service_level_s
            )
        except VoicebotError as exc:
            log.error("ACD statistics of %s not recorded: %s (%s)", call_ref, exc, exc.code)


def _open_records(settings: Settings) -> RecordStore | None:
    """The call records the ACD writes its statistics to (``records.enabled``), or None."""
    from voicebot.records.store import records_config

    cfg = records_config(settings)
    if not cfg.enabled:
        return None
    try:
        return RecordStore(cfg.url or None)
    except VoicebotError as exc:
        log.error("ACD statistics are not recorded: %s (%s)", exc, exc.code)
        return None


async def _read_keys(call: CallIO, line: CallQueueLine) -> None:
    """Hand the caller's keys to the queue line while they wait."""
    while not call.closed.is_set():
        line.key((await call.dtmf.get()).digit)


def header_fields(headers: Mapping[str, str]) -> dict[str, Any]:
    """The SIP context headers of a hand-off (``X-Voicebot-*``) as :func:`record_fields`."""
    customer = headers.get("X-Voicebot-Customer", "")
    summary = headers.get("X-Voicebot-Summary", "")
    intent = headers.get("X-Voicebot-Intent", "")
    named = customer and customer != "unidentified" and not customer.isdigit()
    return {
        "slots": {"customer_name": customer} if named else {},
        "summary": "" if summary == "-" else summary,
        "intent": None if intent in ("", "unknown") else intent,
        "reason": headers.get("X-Voicebot-Reason", ""),
    }


def record_fields(record: Any) -> dict[str, Any]:
    """A hand-off record as the mapping :func:`~voicebot.center.announce.whisper_text` reads."""
    return {
        "slots": dict(getattr(record, "slots", None) or {}),
        "summary": getattr(record, "summary", ""),
        "intent": getattr(record, "intent", None),
        "reason": str(getattr(record, "reason", "")),
    }


TransferHook = Callable[[str, dict[str, str]], Awaitable[str | None]]
"""``hook(uri, headers)``: the transfer result (``accepted``, ``no_answer``, ``failed``) of
a hand-off the ACD served, or None when ``uri`` is not a department with agents."""


def voice(speaker: Any) -> Speak:
    """The bot's TTS (:class:`voicebot.stages.Speaker`: in-process Piper or the speech
    service; blocking, so run in an executor) as a :data:`Speak`."""

    def synthesize(text: str) -> Any:
        parts = list(speaker.sentences(text))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)

    async def speak(text: str) -> bytes:
        loop = asyncio.get_running_loop()
        pcm = await loop.run_in_executor(None, synthesize, text)
        return np.asarray(pcm, dtype="<i2").tobytes()

    return speak


def transfer_hook(
    acd: AcdLine, call: CallIO, bridge: Any, speaker: Any, recognizer: Any = None
) -> TransferHook:
    """The hand-off of one call through the ACD, for the call handler's line.

    ``bridge``: the dialog bridge (the hand-off record for the whisper); ``speaker``: the
    bot's TTS (:class:`voicebot.stages.Speaker`, blocking: run in an executor);
    ``recognizer``: the bot's ASR, so a waiting caller may *say* they want a message.
    An agent took the call -> ``accepted``; the caller chose a message -> ``no_answer`` (the
    session then takes the message); the caller hung up -> ``failed``.
    """

    speak = voice(speaker)

    async def hook(uri: str, headers: dict[str, str]) -> str | None:
        department = acd.department_for(uri)
        if department is None:
            return None
        call_id = call.details.call_id
        handoff = getattr(bridge.conversation(call_id), "handoff", None)
        if handoff is not None:
            fields = record_fields(bridge.handoff_record(call_id, handoff))
        else:
            fields = header_fields(headers)
        whisper = whisper_text(department, fields)
        stay = await acd.hand_off(call, department, headers, whisper, speak, recognizer)
        return {"answered": "accepted", "message": "no_answer"}.get(stay.result, "failed")

    return hook
