"""The hand-off desk: the only writer of hand-off records and caller messages.

Every part of a call that hands a caller over or takes a message goes through one
:class:`HandoffDesk` (the dialog bridge holds it as ``bridge.desk``):

* the dialog's own hand-offs and out-of-hours messages (:class:`~voicebot.dialog.bridge.
  DialogBridge`, in the call worker or in the host's dialog service);
* the hand-off after the caller stayed silent (:class:`~voicebot.session.CallSession`);
* the message taken when a transfer fails, also after the ACD queue when the caller chose
  a message (:class:`~voicebot.session_exits.SessionExits`);
* the failure path: hand-off reason ``technical_error``, then a message when the transfer
  fails too (:mod:`voicebot.fallback`).

What the desk guarantees, wherever it is called from:

* a hand-off record is durable (flushed and fsynced, :class:`~voicebot.handoff.HandoffLog`)
  when :meth:`HandoffDesk.record` returns, so a caller sets off to a person only after it;
* the record and the SIP headers sent with the transfer carry the same ``reference``, so the
  agent's phone finds the record in ``handoffs.jsonl`` (:meth:`HandoffDesk.record_for`);
* a message is on disk (SQLite ``synchronous=FULL``) with its recording, if one is kept,
  before :meth:`HandoffDesk.take_message` returns and before the conversation says so;
* secrets go through :mod:`voicebot.redaction` on the way in (slots, digit runs in the
  summary and the message text; the transcript is redacted as it is taken).

``tests/test_handoff_desk.py`` fails when any other module writes to either store.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicebot.events import Handoff
from voicebot.handoff import HandoffLog, HandoffRecord
from voicebot.messages import MessageStore
from voicebot.paths import var_dir

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from voicebot.dialog.bridge import Conversation


class HandoffDesk:
    """Writes hand-off records (:attr:`handoffs`) and caller messages (:attr:`messages`).

    ``handoffs`` / ``messages``: the stores (default: ``var/handoffs.jsonl`` and
    ``var/messages.sqlite3``); ``recordings``: the folder for message recordings (default
    ``var/recordings``)."""

    def __init__(
        self,
        handoffs: HandoffLog | None = None,
        messages: MessageStore | None = None,
        recordings: Path | None = None,
    ) -> None:
        self.handoffs = handoffs or HandoffLog()
        self.messages = messages or MessageStore()
        self.recordings = recordings

    # ------------------------------------------------------------------ hand-off records

    def record_for(self, conv: Conversation, handoff: Handoff) -> HandoffRecord:
        """The record of ``handoff`` with the conversation so far, not written: the SIP
        headers of the transfer, the ACD whisper, the call record's copy. When ``handoff``
        is the one written for this call, the record keeps the written ``reference``."""
        record = HandoffRecord.from_handoff(
            conv.call_id, handoff, conv.transcript, conv.caller_id, conv.sip_call_id
        )
        if conv.handoff_reference is not None and conv.handoff == handoff:
            record = _with_reference(record, conv.handoff_reference)
        return record

    def record(self, conv: Conversation, handoff: Handoff) -> HandoffRecord:
        """Write the record of ``handoff`` durably and make it the call's hand-off
        (``conv.handoff``). Raises :class:`~voicebot.errors.StoreError` when the write
        fails; the call's hand-off is set either way (the caller is still handed over)."""
        conv.handoff = handoff
        conv.handoff_reference = None
        record = self.record_for(conv, handoff)
        self.handoffs.append_record(record)
        conv.handoff_reference = record.reference
        return record

    # ------------------------------------------------------------------ messages

    def save_recording(self, call_id: str, audio: npt.NDArray[np.int16], rate: int) -> str:
        """Write a message's audio (int16 at ``rate`` Hz) as a WAV file named by the
        internal call ID; returns its path."""
        from voicebot.audio.wavio import write_wav

        folder = self.recordings or var_dir() / "recordings"
        return str(write_wav(folder / f"{call_id}-{int(time.time())}.wav", audio, rate))

    def take_message(
        self,
        conv: Conversation,
        message: dict[str, Any],
        *,
        stored_text: str | None = None,
        audio: npt.NDArray[np.int16] | None = None,
        rate: int = 8000,
    ) -> int:
        """Store the caller's message durably, then make it the call's message
        (``conv.message = message``); returns its id.

        ``message``: ``department``, ``reason`` and ``text`` as the conversation keeps them
        (missing values stored as ``customer_service`` / ``out_of_hours`` / ``""``);
        ``stored_text``: the text to store instead of ``message["text"]`` (a placeholder
        when nothing was transcribed); ``audio``: the caller's recording at ``rate`` Hz,
        written first (None: no recording kept). Raises
        :class:`~voicebot.errors.StoreError` (or the WAV writer's error) when it is not
        stored; the conversation is then left as it was."""
        recording = self.save_recording(conv.call_id, audio, rate) if audio is not None else None
        text = stored_text if stored_text is not None else str(message.get("text") or "")
        message_id = self.messages.add_message(
            call_id=conv.call_id,
            department=str(message.get("department") or "customer_service"),
            reason=str(message.get("reason") or "out_of_hours"),
            text=text,
            transcript=conv.transcript,
            caller_id=conv.caller_id,
            recording_path=recording,
            sip_call_id=conv.sip_call_id,
        )
        conv.message = message
        return message_id


def _with_reference(record: HandoffRecord, reference: str) -> HandoffRecord:
    from dataclasses import replace

    return replace(record, reference=reference)
