"""The per-process call recorder: a call session reports to it, it writes call records.

A :class:`~voicebot.session.CallSession` given a ``recorder`` calls :meth:`CallRecorder.update`
when a caller turn starts and whenever the bot speaks, and :meth:`CallRecorder.call_ended`
with the call's result. The recorder compares the session's state with what it wrote last
(new or changed turns, intent, what the bot is doing, the hand-off record) and queues only
the difference to one writer thread, so a turn waits for no database: the call path pays
for building a few small dicts (microseconds), the writer commits within milliseconds.
A call cut off by a crash keeps its record up to the last turn; a database that fails is
logged and never breaks a call.

Caller turns answering an identification question (account number, PIN, date of birth:
the slot the dialog asked for, the same rule as the dialog transcript) are stored as
``[redacted]``; runs of 6+ digits elsewhere are masked to their last 4.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from voicebot.errors import VoicebotError
from voicebot.handoff import mask_digits
from voicebot.line import Line
from voicebot.paths import var_dir
from voicebot.records.recording import RecordingLine, write_stereo
from voicebot.records.schema import LATENCY_BUCKET_MS
from voicebot.records.store import RecordsConfig, RecordStore, _dumps, utcnow

if TYPE_CHECKING:
    from voicebot.calllog import CallResult, TurnLog

log = logging.getLogger(__name__)

SECRET_SLOTS = frozenset({"account_number", "pin", "date_of_birth"})
REDACTED = "[redacted]"


def new_call_id(now: datetime | None = None) -> str:
    """An internal call ID: sortable by start time, unique across processes."""
    now = now or utcnow()
    return f"{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}"


def turn_row(entry: TurnLog, secret: bool, call_started_at: datetime) -> dict[str, Any]:
    """A ``turns`` row for a caller turn (``secret``: an identification answer)."""
    bot = list(entry.bot)
    if secret and entry.action.startswith("confirm"):  # "I heard 1 2 3 4. Is that right?"
        bot = [re.sub(r"\d", "*", t) for t in bot]
    latency = entry.latency_ms
    return {
        "idx": entry.index,
        "call_started_at": call_started_at,
        "start_s": entry.start_s,
        "end_s": entry.end_s,
        "source": entry.source,
        "expect": entry.expect,
        "heard": REDACTED if secret else mask_digits(entry.heard),
        "redacted": int(secret),
        "asr_confidence": entry.asr_confidence,
        "intent": entry.intent,
        "intent_confidence": entry.intent_confidence,
        "action": entry.action,
        "bot": _dumps(bot),
        "endpoint_ms": entry.endpoint_ms,
        "asr_ms": entry.asr_ms,
        "dialog_ms": entry.dialog_ms,
        "tts_first_ms": entry.tts_first_ms,
        "latency_ms": latency,
        "latency_bucket": None if latency is None else int(latency // LATENCY_BUCKET_MS),
    }


@dataclass
class _CallState:
    """What was last written for one call."""

    id: str
    started_at: datetime
    secret: dict[int, bool] = field(default_factory=dict)
    turns: dict[int, dict[str, Any]] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)
    handoff_key: tuple[str, str] | None = None


class CallRecorder:
    """Writes the records of the calls of one process (see the module docstring)."""

    def __init__(self, store: RecordStore, config: RecordsConfig | None = None) -> None:
        self.store = store
        self.config = config or RecordsConfig()
        self._calls: dict[int, _CallState] = {}
        self._queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._lock = threading.Lock()
        self.write_errors = 0
        self.write_ms: list[float] = []
        """Time the writer thread spent on each write, ms (the last 1000)."""
        self.update_ms: list[float] = []
        """Time each update took on the call's path (diff + queueing), ms (the last 1000)."""

    # ------------------------------------------------------------------ session hooks

    def call_id(self, session: Any) -> str | None:
        """The internal ID of the record of ``session`` (None before its first update)."""
        state = self._calls.get(id(session))
        return state.id if state else None

    def update(self, session: Any) -> None:
        """Write what changed in ``session`` since the last update. Never raises."""
        started = time.perf_counter()
        try:
            self._update(session)
        except Exception:  # noqa: BLE001 - a record must never break a call
            log.exception("call %s: call record update failed", getattr(session, "call_id", "?"))
        self.update_ms = [*self.update_ms[-999:], (time.perf_counter() - started) * 1000]

    def call_ended(self, session: Any, result: CallResult) -> None:
        """Final write: outcome, department, transfer result, duration. Never raises."""
        try:
            self._ended(session, result)
        except Exception:  # noqa: BLE001 - a record must never break a call
            log.exception("call %s: call record end failed", getattr(session, "call_id", "?"))

    # ------------------------------------------------------------------ state diff

    def _state(self, session: Any) -> tuple[_CallState, dict[str, Any] | None]:
        state = self._calls.get(id(session))
        if state is not None:
            return state, None
        started = utcnow()
        state = _CallState(new_call_id(started), started)
        self._calls[id(session)] = state
        line = session.line
        start = {
            "sip_call_id": session.call_id,
            "caller_id": getattr(line, "caller_id", None),
            "direction": getattr(line, "direction", "inbound"),
            "started_at": started,
            "answered_at": started,  # a session runs once the call is answered
            "start_hour": started.hour,
            "doing": "greeting",
        }
        return state, start

    def _update(
        self,
        session: Any,
        final: dict[str, Any] | None = None,
        recording: dict[str, Any] | None = None,
    ) -> None:
        state, start = self._state(session)
        conv = session.bridge.conversation(session.call_id)
        rows = []
        for entry in list(session.turn_logs):
            if entry.index not in state.secret:  # first sight: before the dialog has it
                state.secret[entry.index] = conv.requested_slot in SECRET_SLOTS
            row = turn_row(entry, state.secret[entry.index], state.started_at)
            if state.turns.get(entry.index) != row:
                state.turns[entry.index] = row
                rows.append(row)
        fields: dict[str, Any] = {
            "turn_count": len(session.turn_logs),
            "current_intent": conv.intents[-1] if conv.intents else None,
            "doing": _doing(session, conv),
            "greeting": _dumps(list(session.greeting)) if session.greeting else None,
        }
        handoff = conv.handoff
        if handoff is not None and state.handoff_key != (handoff.department, str(handoff.reason)):
            state.handoff_key = (handoff.department, str(handoff.reason))
            record = session.bridge.handoff_record(session.call_id, handoff)
            fields["handoff"] = _dumps(asdict(record))
            fields["department"] = handoff.department
            fields["reason"] = str(handoff.reason)
        if final:
            fields.update(final)
        changed = {k: v for k, v in fields.items() if state.fields.get(k, ...) != v}
        state.fields.update(changed)
        if start is None and not rows and not changed and recording is None:
            return
        item: dict[str, Any] = {"start": start, "call": changed, "turn_rows": rows}
        if recording is not None:
            item["recording"] = recording
        self._put(state.id, item)

    def _ended(self, session: Any, result: CallResult) -> None:
        state = self._calls.get(id(session))
        duration = float(session.line.now())
        started = state.started_at if state else utcnow()
        outcome = result.outcome
        kind: str = outcome.kind
        if result.errors and kind == "abandoned":
            kind = "error"
        transfer = result.transfer.split(":", 1)[1] if result.transfer else None
        final: dict[str, Any] = {
            "status": "ended",
            "outcome": kind,
            "ended_at": started + timedelta(seconds=duration),
            "duration_s": round(duration, 2),
            "doing": None,
            "transfer_result": transfer,
            "errors": _dumps(result.errors) if result.errors else None,
        }
        if outcome.department:
            final["department"] = outcome.department
        if outcome.reason is not None:
            final["reason"] = str(outcome.reason)
        job: dict[str, Any] | None = None
        if isinstance(session.line, RecordingLine) and state is not None:
            caller, bot = session.line.take()
            spans = [
                (row["start_s"], row["end_s"])
                for idx, row in state.turns.items()
                if state.secret.get(idx) and row["source"] != "dtmf"
            ]
            folder = var_dir() / self.config.recordings_dir / f"{started:%Y-%m-%d}"
            path = folder / f"{state.id}.wav"
            final["recording_path"] = str(path)
            job = {"path": path, "caller": caller, "bot": bot, "rate": session.line.rate,
                   "silence_s": spans}  # fmt: skip
        self._update(session, final, recording=job)
        self._calls.pop(id(session), None)

    def wrap_line(self, line: Line) -> Line:
        """``line`` wrapped to record both sides when ``records.recording`` is on."""
        return RecordingLine(line) if self.config.recording else line

    # ------------------------------------------------------------------ writer thread

    def _put(self, call_id: str, item: dict[str, Any]) -> None:
        with self._lock:
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(
                    target=self._write_loop, name="call-records", daemon=True
                )
                self._writer.start()
        self._queue.put((call_id, item))

    def _write_loop(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                call_id, item = job
                started = time.perf_counter()
                try:
                    recording = item.pop("recording", None)
                    if recording is not None:
                        try:
                            write_stereo(**recording)
                        except OSError as exc:
                            log.error("call %s: recording not written: %s", call_id, exc)
                            item["call"].pop("recording_path", None)
                    self.store.write(call_id, **item)
                except VoicebotError as exc:
                    self.write_errors += 1
                    log.error("call %s: call record not written: %s (%s)", call_id, exc, exc.code)
                except Exception:  # noqa: BLE001 - the writer thread must keep running
                    self.write_errors += 1
                    log.exception("call %s: call record not written", call_id)
                self.write_ms = [*self.write_ms[-999:], (time.perf_counter() - started) * 1000]
            finally:
                self._queue.task_done()

    def flush(self) -> None:
        """Wait until every queued write is done."""
        self._queue.join()

    def close(self) -> None:
        """Write what is queued, then stop the writer thread."""
        if self._writer is not None and self._writer.is_alive():
            self._queue.put(None)
            self._writer.join(timeout=30)
        self._writer = None


def _doing(session: Any, conv: Any) -> str:
    """What the bot is doing, for the live view."""
    if conv.message is not None:
        return "message taken"
    if getattr(getattr(session, "exits", None), "taking_message", None) is not None:
        return "taking a message"
    if conv.handoff is not None:
        return f"handing over to {conv.handoff.department}"
    if conv.requested_slot:
        return f"asking for {str(conv.requested_slot).replace('_', ' ')}"
    idle = getattr(session, "idle", None)
    if idle is not None and not idle.is_set():
        return "answering"
    return "listening"


def open_recorder(settings: Any) -> CallRecorder | None:
    """The recorder the settings ask for (``records.enabled``), or None. A database that
    cannot be opened is logged: calls are still answered, without records."""
    from voicebot.records.store import records_config

    cfg = records_config(settings)
    if not cfg.enabled:
        return None
    try:
        store = RecordStore(cfg.url or None)
    except VoicebotError as exc:
        log.error("call records are off: %s (%s)", exc, exc.code)
        return None
    import atexit

    recorder = CallRecorder(store, cfg)
    atexit.register(recorder.close)  # queued writes are done before the process exits
    return recorder
