"""One call, one coroutine: line audio -> VAD -> ASR -> turns -> dialog -> TTS -> line.

:class:`CallSession` is the per-call pipeline that the SIP line and the simulated line of
``voicebot call``/``replay`` both drive. Data flows one way; the session owns the order:

* caller audio goes through :class:`~voicebot.hearing.Hearing` (VAD, then one ASR stream per
  speech segment, opened with the grammar the dialog expects, endpointing for it);
* the pure turn state machine (:mod:`voicebot.turns`) turns speech, transcripts and keys
  into caller turns, barge-ins and no-input timeouts;
* a caller turn goes to the dialog bridge; its reply is spoken sentence by sentence in a
  background task, so the caller can interrupt it (barge-in stops the audio at once);
* a hand-off is carried out after its announcement: transfer to the department, or, when
  the transfer fails, a message is taken and stored durably;
* any failure mid-call (ASR, dialog, action server, TTS, a store, a bug) stops the
  conversation and hands the caller over on the failure path (:mod:`voicebot.fallback`):
  apology, hand-off record, transfer to the default department, else a message. A call
  never ends in silence; the error code is in :attr:`CallResult.failure`.

Blocking work (ASR decoding, TTS) runs in the default executor so the loop that also drives
SIP never stalls. Every caller turn produces a :class:`TurnLog` with what was heard, what
was understood, what the bot said and how long each stage took.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from voicebot.audio.vad import SpeechDetector
from voicebot.calllog import CallResult, TurnLog, write_turn_log
from voicebot.dialog.bridge import DialogBridge
from voicebot.events import (
    BargeIn,
    DialogReply,
    ExpectedInput,
    ExpectInput,
    Handoff,
    HandoffReason,
    NoInput,
    PlaybackFinished,
    PlaybackStarted,
    SpeechEnded,
    Tick,
    UserTurn,
)
from voicebot.fallback import FallbackPrompts, LineInputs
from voicebot.hearing import Hearing
from voicebot.line import AudioIn, Line
from voicebot.redaction import for_log
from voicebot.session_config import SessionConfig, session_config
from voicebot.session_exits import SessionExits
from voicebot.stages import Recognizer, Speaker, TurnMachine
from voicebot.yes_no import interpret as interpret_yes_no

__all__ = [
    "CallResult",
    "CallSession",
    "Recognizer",
    "SessionConfig",
    "Speaker",
    "TurnLog",
    "session_config",
    "write_turn_log",
]

log = logging.getLogger(__name__)


_DIGIT_WORDS = re.compile(r"\d")


class CallSession:
    """The per-call pipeline (see the module docstring). How the call leaves the bot
    (transfer, message, hang-up, failure path) is :attr:`exits`'s part."""

    def __init__(
        self,
        line: Line,
        bridge: DialogBridge,
        recognizer: Recognizer,
        speaker: Speaker,
        detector: SpeechDetector,
        turns: TurnMachine,
        config: SessionConfig | None = None,
        departments: Any = None,
        fallback: FallbackPrompts | None = None,
        recorder: Any = None,
    ) -> None:
        self.line = line
        self.bridge = bridge
        self.recognizer = recognizer
        self.speaker = speaker
        self.detector = detector
        self.turns = turns
        self.cfg = config or SessionConfig()
        self.departments = departments
        self.recorder = recorder  # voicebot.records.recorder.CallRecorder: the call's record
        self.call_id = line.call_id
        self.idle = asyncio.Event()
        self.turn_logs: list[TurnLog] = []
        self.greeting: list[str] = []
        self.errors: list[str] = []
        self.timeline: list[tuple[float, str, str]] = []
        self.hearing = Hearing(
            detector, recognizer, line.rate, self.cfg, line.call_id, errors=self.errors
        )
        self._speaking: asyncio.Task[None] | None = None
        self._stop_speaking = False
        self._pending_turns: list[UserTurn] = []
        self._confirm: str | None = None
        self._done = False
        self._last_question: tuple[str, ...] = ()
        self._digits_asked: int | None = None  # digits asked for, kept through a read-back
        self.fallback = fallback or FallbackPrompts(line.rate, speaker)
        self.exits = SessionExits(
            line,
            bridge,
            recognizer,
            self.cfg,
            departments,
            self.idle,
            self.fallback,
            self.errors,
            self.timeline,
        )
        """Transfer, message, hang-up and the failure path, and what they decided."""
        self._failed: BaseException | None = None  # raised in a background task
        self._failed_event = asyncio.Event()
        self._inputs: LineInputs | None = None

    @property
    def failure(self) -> str | None:
        """Code of the error that sent the call down the failure path, None if none did."""
        return self.exits.failure

    # ------------------------------------------------------------------ main loop

    async def run(self) -> CallResult:
        """Greet, then serve caller turns until a hang-up, a hand-off or the end; on any
        failure, hand the caller over on the failure path (never raises a call error)."""
        failure: BaseException | None = None
        self._record()
        try:
            try:
                await self._converse()
            except Exception as exc:  # noqa: BLE001 - VoicebotError or a bug: never drop
                failure = exc
            failure = failure or self._failed
            if failure is not None:
                await self.exits.recover(failure, self._inputs, self._stop_speaking_now)
        finally:
            await self._stop_speaking_now()
            self.idle.set()
        conv = self.bridge.conversation(self.call_id)
        result = CallResult(
            self.call_id,
            conv.outcome(),
            self.turn_logs,
            self.greeting,
            self.exits.transfer,
            self.errors,
            self.timeline,
        )
        result.failure = self.exits.failure
        if self.recorder is not None:
            self.recorder.call_ended(self, result)
        return result

    def _record(self) -> None:
        """Let the recorder write what changed (it never raises)."""
        if self.recorder is not None:
            self.recorder.update(self)

    async def _open(self) -> DialogReply:
        """Start the dialog: its first reply is the bot's first turn (the inbound greeting;
        an outbound survey overrides this with its opening)."""
        return await self.bridge.start(
            self.call_id, self.line.caller_id, getattr(self.line, "sip_call_id", None)
        )

    async def _converse(self) -> None:
        """The conversation proper; raises on a failure (see :meth:`SessionExits.recover`)."""
        self._inputs = LineInputs(aiter(self.line.inputs()))
        reply = await self._open()
        self.greeting = list(reply.texts)
        self._after_reply(reply, None)
        failed = asyncio.ensure_future(self._failed_event.wait())
        try:
            while await self._input_or_failure(failed):
                item = await self._inputs.next()
                if item is None:
                    break
                await self._take(item)
                if self._failed is not None:
                    return
                if self._done and (self._speaking is None or self._speaking.done()):
                    break
        finally:
            failed.cancel()
        if self._inputs.ended:
            self.exits.line_closed = True

    async def _input_or_failure(self, failed: asyncio.Future[Any]) -> bool:
        """Wait for the next line input (True) or a failure in the background (False)."""
        assert self._inputs is not None
        read = self._inputs.pending()
        waiters: set[asyncio.Future[Any]] = {read, failed}
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        return self._failed is None

    async def _take(self, item: Any) -> None:
        """One line input: hear it, then serve the turns it completed."""
        if isinstance(item, AudioIn):
            await self._hear(item)
        else:
            self._feed(item)
        await self._serve_turns()
        if self.line.now() > self.cfg.max_call_s and not self._done:
            self._done = True
            self._say(
                ("We have reached the maximum length for this call. Goodbye.",),
                then=self.exits.hangup,
            )

    # ------------------------------------------------------------------ hearing

    async def _hear(self, frame: AudioIn) -> None:
        async for event in self.hearing.hear(frame.samples):
            self._feed(event)
        self._feed(Tick(self.line.now()))

    def _feed(self, event: Any) -> None:
        for out in self.turns.handle(event):
            if isinstance(out, UserTurn):
                self._pending_turns.append(out)
            elif isinstance(out, BargeIn):
                self._barge_in(out)
            elif isinstance(out, NoInput):
                self._no_input(out)

    # ------------------------------------------------------------------ turns

    async def _serve_turns(self) -> None:
        while self._pending_turns and not self._done:
            if self._still_answering():
                return  # served on a later input, once the reply before it was spoken
            turn = self._pending_turns.pop(0)
            if not turn.text.strip() or (turn.source == "dtmf" and turn.text.strip() == "#"):
                continue  # nothing said, or the # after digits that were already complete
            self.idle.clear()
            await self._respond(turn)

    def _still_answering(self) -> bool:
        """The reply to the last turn is still being spoken (not interrupted). A turn heard
        before that reply played (the words said just after a number: voicebot.held_groups)
        waits for it: answered at once, its reply queued behind the first, and the simulated
        line, whose clock stands still until the session is idle, never played the first
        (the replay hung whenever the first reply's TTS finished before the second turn's
        dialog answered)."""
        task = self._speaking
        return task is not None and not task.done() and not self._stop_speaking

    async def _respond(self, turn: UserTurn) -> None:
        end = self.hearing.take_turn_end() if turn.source != "dtmf" else None
        ended = end.ended if end else None
        endpoint_ms = (ended.time_s - ended.end_s) * 1000 if ended else 0.0
        asr_ms = end.asr_ms if end else 0.0
        entry = TurnLog(
            index=len(self.turn_logs) + 1,
            start_s=turn.start_s,
            end_s=turn.end_s,
            heard=turn.text,
            asr_confidence=turn.confidence,
            source=turn.source,
            endpoint_ms=round(endpoint_ms, 1),
            asr_ms=round(asr_ms, 1),
            expect=turn.expect,
            endpoint=_endpoint_kind(turn.source, ended, bool(end and end.early)),
        )
        self.turn_logs.append(entry)
        self.timeline.append((turn.end_s, "caller", turn.text))
        self._record()
        turn_started = time.perf_counter()
        if self.exits.taking_message is not None:
            self.exits.store_message(turn.text, self.hearing.last_segment)
            self._done = True
            self._say(("Thank you, your message has been saved. Goodbye.",), then=self.exits.hangup)
            return
        text = turn.text
        if self._confirm is not None:
            pending, self._confirm = self._confirm, None
            if interpret_yes_no(text) == "yes":  # "yeah no", "know that's wrong": not a yes
                text = pending
            else:
                entry.action = "confirm-rejected"
                self._say(
                    ("Sorry about that. Please say it again, or key it in on your phone.",),
                    entry=entry,
                    turn_started=turn_started,
                    expect="digits",
                    max_digits=self._digits_asked,
                )
                return
        elif (
            turn.expect == "digits"
            and turn.source == "speech"
            and turn.confidence < self.cfg.confirm_below
            and _DIGIT_WORDS.search(text)
        ):
            digits = " ".join(re.sub(r"\D", "", text))
            self._confirm = text
            entry.action = "confirm"
            self._say(
                (f"I heard {digits}. Is that right?",),
                entry=entry,
                turn_started=turn_started,
                expect="yes_no",
                keep_max_digits=True,
            )
            return
        started = time.perf_counter()
        reply = await self.bridge.handle(self.call_id, text)
        entry.dialog_ms = round((time.perf_counter() - started) * 1000, 1)
        entry.intent = reply.intent
        entry.intent_confidence = round(reply.confidence, 3)
        self._after_reply(reply, entry, turn_started)

    def _after_reply(
        self, reply: DialogReply, entry: TurnLog | None, turn_started: float | None = None
    ) -> None:
        then: Callable[[], Any] | None = None
        if reply.handoff is not None:
            handoff = reply.handoff
            if entry:
                entry.action = f"handoff:{handoff.department}:{handoff.reason}"
            if handoff.is_open:
                self._done = True
                then = lambda: self._transfer_to(handoff)  # noqa: E731
        elif reply.ended:
            self._done = True
            then = self.exits.hangup
            if entry:
                entry.action = "end"
        if reply.message is not None and entry:
            entry.action = f"message:{reply.message.get('department')}"
        conv = self.bridge.conversation(self.call_id)
        max_digits = {"account_number": 8, "pin": 4}.get(conv.requested_slot or "")
        self._say(
            reply.texts,
            then=then,
            entry=entry,
            turn_started=turn_started,
            expect=reply.expect,
            max_digits=max_digits,
            keypad=self.bridge.menu_keys(self.call_id),
        )

    # ------------------------------------------------------------------ hand-offs

    async def _transfer_to(self, handoff: Handoff) -> None:
        """Transfer the call; when the transfer fails, ask for a message instead."""
        apology = await self.exits.transfer_to(handoff)
        if apology is not None:
            self._done = False
            self._say((apology,))

    # ------------------------------------------------------------------ speaking

    def _say(
        self,
        texts: tuple[str, ...] | list[str],
        *,
        then: Callable[[], Any] | None = None,
        entry: TurnLog | None = None,
        turn_started: float | None = None,
        expect: ExpectedInput = "free",
        max_digits: int | None = None,
        keep_max_digits: bool = False,
        keypad: int | None = None,
    ) -> None:
        """Speak ``texts`` in the background, then wait for ``expect`` (``max_digits``: the
        length of the account number or PIN asked for; ``keep_max_digits``: a read-back
        question, so the length still applies when the caller says the digits again;
        ``keypad``: keys that complete keypad input when no digits are asked, 1 for the menu)."""
        if not keep_max_digits:
            self._digits_asked = max_digits
        self.hearing.listen_for(expect, max_digits)
        self._feed(ExpectInput(self.line.now(), expect, max_digits or keypad))
        if texts:
            last = re.split(r"(?<=[.!?])\s+", texts[-1].strip())
            questions = [x for x in last if x.endswith("?")]
            self._last_question = (questions[-1] if questions else texts[-1],)
        self.timeline += [(self.line.now(), "bot", t) for t in texts]
        if entry is not None:
            entry.bot = list(texts)
        self._record()
        previous = self._speaking
        self._stop_speaking = False
        self.idle.clear()
        self._speaking = asyncio.create_task(
            self._speak(list(texts), previous, then, entry, turn_started)
        )

    async def _speak(
        self,
        texts: list[str],
        previous: asyncio.Task[None] | None,
        then: Callable[[], Any] | None,
        entry: TurnLog | None,
        turn_started: float | None,
    ) -> None:
        if previous is not None and not previous.done():
            await asyncio.gather(previous, return_exceptions=True)
        loop = asyncio.get_running_loop()
        first = True
        try:
            for text in texts:
                chunks = self.speaker.sentences(text)
                while not self._stop_speaking:
                    chunk = await loop.run_in_executor(None, next, chunks, None)
                    if chunk is None or self._stop_speaking:
                        break
                    await self.line.play(chunk)
                    if first:
                        first = False
                        self._feed(PlaybackStarted(self.line.now()))
                        if entry is not None and turn_started is not None:
                            entry.tts_first_ms = round(
                                (time.perf_counter() - turn_started) * 1000 - entry.dialog_ms,
                                1,
                            )
                            entry.latency_ms = round(
                                entry.endpoint_ms
                                + entry.asr_ms
                                + entry.dialog_ms
                                + entry.tts_first_ms,
                                1,
                            )
                if self._stop_speaking:
                    break
            self.idle.set()
            played = await self.line.wait_played() if not first else True
            if not first:
                self._feed(PlaybackFinished(self.line.now(), interrupted=not played))
            if then is not None:
                result = then()
                if asyncio.iscoroutine(result):
                    await result
        except Exception as exc:  # noqa: BLE001 - TTS, line or store: the failure path
            log.error("call %s: failed while speaking: %s", self.call_id, for_log(exc))
            self._failed = exc
            self._failed_event.set()  # wakes the session, which hands the caller over

    async def _stop_speaking_now(self) -> None:
        """Stop bot audio and drop what was to follow it (a transfer, a hang-up)."""
        task, self._speaking = self._speaking, None
        if task is not None and not task.done():
            self._stop_speaking = True
            self.line.stop_playback()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _barge_in(self, event: BargeIn) -> None:
        if self._speaking is None or self._speaking.done():
            return
        self._stop_speaking = True
        heard_ms = self.line.stop_playback()
        log.info("call %s: barge-in after %.0f ms of bot audio", self.call_id, heard_ms)

    def _no_input(self, event: NoInput) -> None:
        if self._done:
            return
        if event.count < self.cfg.max_no_input:
            self._say(
                (self.cfg.reprompt, *self._last_question),
                expect=self.hearing.expect,
                max_digits=self.hearing.max_digits,
            )
            return
        handoff = self.exits.default_handoff(HandoffReason.NO_INPUT, "caller stayed silent")
        self._done = True
        self.bridge.record_handoff(self.call_id, handoff)
        self._say(
            ("I'm having trouble hearing you, so I'll put you through to a colleague.",),
            then=(lambda: self._transfer_to(handoff)) if handoff.is_open else self.exits.hangup,
        )


def _endpoint_kind(source: str, ended: SpeechEnded | None, early: bool) -> str:
    """How the caller's turn was ended: ``silence`` (the endpoint), ``complete`` (every
    expected digit heard at a pause), ``max_length`` (speech cut), or ``keypad``."""
    if source == "dtmf" or ended is None:
        return "keypad" if source == "dtmf" else "other"
    if early:
        return "complete"
    return "max_length" if ended.forced else "silence"
