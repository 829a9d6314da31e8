"""The dialog bridge: one conversation per call, caller turns in, :class:`DialogReply` out.

The same bridge serves the text chat, QA replay and the phone line. It keeps each
conversation's transcript (with answers to identification questions redacted), turns
the custom actions' ``{"voicebot": {...}}`` payloads into hand-offs, messages and the end of
the call, writes a hand-off record or stores a message durably *before* returning (through
its hand-off desk, :mod:`voicebot.center.handoff_desk`), and
knows what the next turn should hold (digits, yes/no) for the speech recogniser.

Two things are decided here, before the NLU model, because they must not depend on it:

* an answer to a yes/no question is read by the one yes/no interpreter
  (:mod:`voicebot.yes_no`): a clear yes or no overrules an NLU guess of the other (or of
  nothing: "Know, that's wrong." is a no), and a hedged answer, or an affirm/deny the NLU is
  unsure of with no yes or no in it, is asked again once instead of taken as a yes;
* a single keypad key while no digits are asked for is a choice from the keypad menu of the
  department file (:mod:`voicebot.menu`): put through to a department or start a request.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from voicebot.center.handoff_desk import HandoffDesk
from voicebot.departments import Departments, load_departments
from voicebot.dialog.action_failures import watch_actions
from voicebot.errors import DialogError
from voicebot.events import DialogReply, ExpectedInput, Handoff, HandoffReason, Outcome
from voicebot.handoff import HandoffLog, HandoffRecord, Turn
from voicebot.menu import MENU_KEYS, MenuEntry
from voicebot.messages import MessageStore
from voicebot.redaction import for_log, redact_answer, redact_slots
from voicebot.yes_no import interpret as interpret_yes_no
from voicebot.yes_no import tokens

if TYPE_CHECKING:
    from rasa.core.agent import Agent
    from rasa.shared.core.trackers import DialogueStateTracker

log = logging.getLogger(__name__)

# Slots answered with digits only. Not the PIN: its question offers the date of birth
# instead, so the recogniser must not be held to digits there.
DIGIT_SLOTS = frozenset({"account_number"})
SPELLED_SLOTS = frozenset({"postcode"})
#: slots a caller may key in: while one is asked, keys are data, not menu choices
KEYED_DATA_SLOTS = frozenset({"account_number", "pin", "date_of_birth"})
#: slots of the outbound survey form: keys answer its questions, never the menu
SURVEY_SLOT_PREFIX = "survey_"


def keyed_data_slot(slot: str | None) -> bool:
    """Whether keys are data (an answer) while ``slot`` is asked, not menu choices."""
    return slot in KEYED_DATA_SLOTS or (slot or "").startswith(SURVEY_SLOT_PREFIX)


# Actions that answer a first-level request: a call with one of these and no hand-off
# was resolved by the bot (an intent alone is not enough: identification may have failed).
RESOLVING_ACTIONS = frozenset(
    {
        "action_opening_hours",
        "action_check_outage",
        "action_check_balance",
        "action_check_order",
        "utter_address",
        "utter_website",
        "utter_phone_number",
        "utter_departments",
        "utter_troubleshoot_helped",
    }
)
#: NLU intents a clear yes or no from the interpreter overrules (other intents, such as
#: "no, put me through to billing" -> request_human, say more than yes or no)
#: the outbound survey's own intents: they matter only inside the survey form, so on any other
#: yes/no question a clear yes or no overrules them ("Now." is a no, not "not now") and a
#: hedge the NLU calls one of them ("maybe") is asked again like a doubtful affirm/deny
SURVEY_INTENTS = frozenset({"call_later", "opt_out"})
OVERRULABLE = frozenset(
    {"affirm", "deny", "nlu_fallback", "out_of_scope", "inform", "thank_you", *SURVEY_INTENTS}
)
#: an affirm or deny with no yes or no word in it is trusted from this NLU confidence (0..1)
YES_NO_TRUST = 0.8
REASK = "Sorry, was that a yes or a no?"
_SPOKEN_KEYS = {
    "zero": "0",  # not "oh": Whisper writes "Oh." for a sigh or a noise
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "star": "*",
}
_KEY_FILLERS = frozenset(
    {"press", "pressed", "option", "number", "key", "please", "uh", "um", "er"}
)
_YES_NO_START = re.compile(
    r"^(do|does|did|would|shall|should|is|are|can|could|may|will|have|has)\b", re.I
)


def expected_input(requested_slot: str | None, last_text: str | None) -> ExpectedInput:
    """What the next caller turn should hold, from the form's slot or the last question."""
    if requested_slot in DIGIT_SLOTS:
        return "digits"
    if requested_slot in SPELLED_SLOTS:
        return "spelled"
    if requested_slot:
        return "free"
    if last_text:
        question = re.split(r"(?<=[.!:])\s+", last_text.strip())[-1]
        if question.endswith("?") and _YES_NO_START.match(question):
            return "yes_no"
    return "free"


@dataclass
class Conversation:
    """What the bridge remembers about one call."""

    call_id: str
    """The internal call ID (:mod:`voicebot.callids`): the Rasa sender ID of the call."""
    caller_id: str | None = None
    sip_call_id: str | None = None
    """The SIP Call-ID as sent by the caller: data for records, never a key."""
    transcript: list[Turn] = field(default_factory=list)
    intents: list[str] = field(default_factory=list)
    handoff: Handoff | None = None
    message: dict[str, Any] | None = None
    ended: bool = False
    requested_slot: str | None = None
    last_bot_texts: tuple[str, ...] = ()
    answered: list[str] = field(default_factory=list)
    """Actions that answered a first-level request (see RESOLVING_ACTIONS)."""
    expect: ExpectedInput = "free"
    """What the bot's last turn asked for (``yes_no``: the answer goes through the
    yes/no interpreter)."""
    menu_offered: bool = False
    """The bot's last turn read out the keypad menu (a spoken "one" is then a key too)."""
    reasked: bool = False
    """The last yes/no question was already asked again once."""
    survey: list[dict[str, Any]] = field(default_factory=list)
    """Outbound survey events in order (``survey_answer`` as each answer is taken, then
    ``survey_end``), see :mod:`voicebot.center.campaigns.survey_call`."""
    handoff_reference: str | None = None
    """The ``reference`` of :attr:`handoff`'s record once it is written (the transfer's SIP
    headers carry it), see :class:`voicebot.center.handoff_desk.HandoffDesk`."""

    def outcome(self) -> Outcome:
        """Resolved, routed (where and why), message taken, or abandoned."""
        intents = tuple(self.intents)
        if self.message is not None:
            return Outcome(
                "message",
                self.message.get("department"),
                HandoffReason(self.message.get("reason", "out_of_hours")),
                intents,
            )
        if self.handoff is not None:
            return Outcome("routed", self.handoff.department, self.handoff.reason, intents)
        if self.answered:
            return Outcome("resolved", intents=intents)
        return Outcome("abandoned", intents=intents)


def _handoff_from_payload(payload: dict[str, Any], slots: dict[str, Any]) -> Handoff:
    try:
        reason = HandoffReason(payload.get("reason", "routed"))
    except ValueError:
        reason = HandoffReason.ROUTED
    return Handoff(
        department=str(payload.get("department") or "customer_service"),
        reason=reason,
        transfer_uri=str(payload.get("transfer_uri") or ""),
        is_open=bool(payload.get("is_open", True)),
        intent=payload.get("intent"),
        slots=redact_slots(slots),
        summary=str(payload.get("summary") or ""),
    )


class ConversationKeeper:
    """What the session asks of any dialog bridge besides the turns themselves: each call's
    :class:`Conversation`, the hand-off desk (:attr:`desk`, the only writer of hand-off
    records and messages) and the keypad-menu rule. :class:`DialogBridge` (the Rasa agent in
    this process) and the dialog service's worker client
    (:class:`voicebot.services.dialog_client.RemoteDialog`) share it, so the two cannot
    drift apart."""

    def __init__(
        self,
        *,
        handoffs: HandoffLog | None = None,
        messages: MessageStore | None = None,
        departments: Departments | None = None,
    ) -> None:
        self.desk = HandoffDesk(handoffs, messages)
        self.departments = departments or load_departments()
        self._conversations: dict[str, Conversation] = {}

    def conversation(self, call_id: str) -> Conversation:
        if call_id not in self._conversations:
            self._conversations[call_id] = Conversation(call_id)
        return self._conversations[call_id]

    def forget(self, call_id: str) -> Conversation | None:
        """Drop a finished conversation's state; returns it for a last look."""
        return self._conversations.pop(call_id, None)

    def handoff_record(self, call_id: str, handoff: Handoff) -> HandoffRecord:
        """The record (and SIP context headers) for ``handoff`` with the transcript so far,
        not written (:meth:`HandoffDesk.record_for`)."""
        return self.desk.record_for(self.conversation(call_id), handoff)

    def record_handoff(self, call_id: str, handoff: Handoff) -> HandoffRecord:
        """A hand-off decided outside the dialog (silence, failure), written by the desk."""
        return self.desk.record(self.conversation(call_id), handoff)

    def menu_keys(self, call_id: str) -> int | None:
        """1 when a single key is a menu choice now (keypad input can complete at once),
        None while digits are data (an account number, a PIN, a date) or there is no menu."""
        conv = self.conversation(call_id)
        return 1 if self.departments.menu and not keyed_data_slot(conv.requested_slot) else None


class DialogBridge(ConversationKeeper):
    """Async facade over a loaded Rasa agent; safe for many concurrent conversations."""

    def __init__(
        self,
        agent: Agent,
        *,
        handoffs: HandoffLog | None = None,
        messages: MessageStore | None = None,
        departments: Departments | None = None,
    ) -> None:
        super().__init__(handoffs=handoffs, messages=messages, departments=departments)
        self.agent = agent

    async def start(
        self, call_id: str, caller_id: str | None = None, sip_call_id: str | None = None
    ) -> DialogReply:
        """Begin a call: runs the session start (caller-ID lookup) and the greeting.
        ``call_id``: the internal call ID; ``sip_call_id``: the SIP Call-ID, kept as data."""
        from rasa.core.channels.channel import CollectingOutputChannel

        conv = self.conversation(call_id)
        conv.caller_id = caller_id
        conv.sip_call_id = sip_call_id
        metadata = {"caller_id": caller_id} if caller_id else {}
        channel = CollectingOutputChannel()
        processor = self.agent.processor
        if processor is None:
            raise DialogError("the dialog model is not loaded")
        try:
            with watch_actions() as failed:
                tracker = await processor.fetch_tracker_and_update_session(
                    call_id, channel, metadata
                )
                await processor.save_tracker(tracker)
        except Exception as exc:
            raise DialogError(f"the dialog model failed to start a call: {exc}") from exc
        if failed:
            raise DialogError(f"a custom action failed at the start of the call: {failed[0]}")
        return self._reply(conv, channel.messages, tracker)

    async def start_survey(self, call_id: str, intent: str, script_json: str) -> DialogReply:
        """Start the outbound survey ``intent`` with the campaign's script (JSON) in a call
        already started with :meth:`start`; the reply is the opening and consent question."""
        message = f"/{intent}" + json.dumps({"survey_script": script_json})
        return await self._send(self.conversation(call_id), message, f"(survey {intent})")

    async def handle(self, call_id: str, text: str) -> DialogReply:
        """One caller turn (speech transcript, typed text or keyed digits)."""
        conv = self.conversation(call_id)
        clean = " ".join(text.split()).lstrip("/")
        if not clean:
            clean = "..."
        shown = redact_answer(clean, conv.requested_slot)
        entry, key = self._menu_choice(conv, clean)
        if key is not None:
            if entry is None:  # a key that is not on the menu: say the menu again
                return self._local_reply(
                    conv,
                    shown,
                    f"Sorry, {key} is not one of the options. On your keypad, "
                    f"{self.departments.menu_prompt()}.",
                    menu=True,
                )
            return await self._send(conv, _menu_message(entry), f"{shown} (menu: {entry.label})")
        if conv.requested_slot is None:
            answer = interpret_yes_no(clean)
            if conv.expect == "yes_no" or answer != "none":
                parsed = await self._parse(clean)
                name = str((parsed.get("intent") or {}).get("name") or "")
                confidence = float((parsed.get("intent") or {}).get("confidence") or 0.0)
                wanted = {"yes": "affirm", "no": "deny"}.get(answer)
                if wanted and name != wanted and name in OVERRULABLE:
                    log.info("call %s: yes/no answer %s overrules NLU %s", call_id, answer, name)
                    return await self._send(conv, f"/{wanted}", caller_text=shown)
                doubtful = answer == "unsure" or (answer == "none" and confidence < YES_NO_TRUST)
                yes_no_like = name in ("affirm", "deny") or name in SURVEY_INTENTS
                if conv.expect == "yes_no" and yes_no_like and doubtful:
                    if not conv.reasked:
                        question = conv.last_bot_texts[-1:] or ("",)
                        last = re.split(r"(?<=[.!:])\s+", question[0].strip())[-1]
                        return self._local_reply(conv, shown, f"{REASK} {last}".strip(), reask=True)
                    # asked twice and still not sure: a misunderstanding, never a yes
                    return await self._send(conv, "/nlu_fallback", caller_text=shown)
                # the NLU graph ran on this text already: Rasa takes the parse as it is
                return await self._send(conv, clean, caller_text=shown, parse_data=parsed)
        return await self._send(conv, clean, caller_text=shown)

    def _menu_choice(self, conv: Conversation, text: str) -> tuple[MenuEntry | None, str | None]:
        """(entry, key) when ``text`` is one keypad key (or, right after the menu was read
        out, one spoken digit: "one", "press two") and no digits are asked for; while another
        form question is open (fault type, postcode) only a department key counts."""
        if keyed_data_slot(conv.requested_slot) or not self.departments.menu:
            return None, None
        bare = text.strip().strip(".!?,").strip()
        key: str | None = bare if len(bare) == 1 and bare in MENU_KEYS else None
        if key is None and conv.menu_offered:
            words = [w for w in tokens(bare) if w not in _KEY_FILLERS]
            if len(words) == 1:
                word = words[0]
                key = _SPOKEN_KEYS.get(word) or (
                    word if len(word) == 1 and word.isdigit() else None
                )
        if key is None:
            return None, None
        entry = self.departments.menu_entry(key)
        if conv.requested_slot is not None and entry is not None and entry.department is None:
            return None, None  # a form is asking (fault type, postcode): only a department
        return entry, key

    async def _parse(self, text: str) -> dict[str, Any]:
        try:
            return dict(await self.agent.parse_message(text))
        except Exception as exc:
            raise DialogError(f"the dialog model failed to parse a turn: {exc}") from exc

    def _local_reply(
        self,
        conv: Conversation,
        caller_text: str,
        said: str,
        *,
        menu: bool = False,
        reask: bool = False,
    ) -> DialogReply:
        """A reply the bridge gives itself (the dialog state stays as it was)."""
        conv.transcript += [Turn("caller", caller_text), Turn("bot", said)]
        conv.last_bot_texts = (said,)
        conv.menu_offered = menu
        conv.reasked = reask
        return DialogReply(texts=(said,), expect=conv.expect)

    async def _send(
        self,
        conv: Conversation,
        text: str,
        caller_text: str,
        parse_data: dict[str, Any] | None = None,
    ) -> DialogReply:
        """One message to the agent; ``parse_data``: this ``text``'s own parse by
        :meth:`_parse` (the NLU graph does not read the tracker, so it is the parse Rasa
        would make again)."""
        from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

        from voicebot.dialog.stores import trace_turn, traced

        conv.transcript.append(Turn("caller", caller_text))
        channel = CollectingOutputChannel()
        message = UserMessage(
            text, channel, sender_id=conv.call_id, input_channel="voicebot", parse_data=parse_data
        )
        store = self.agent.tracker_store
        try:
            if traced(store):  # the events Rasa retrieved (under the lock) and saved
                with watch_actions() as failed, trace_turn() as trace:
                    await self.agent.handle_message(message)
                seen = trace.retrieved.get(conv.call_id, 0)
                tracker = trace.saved.get(conv.call_id) or await store.retrieve(conv.call_id)
            else:  # Rasa's own store (voicebot chat): read before and after
                before = await store.retrieve(conv.call_id)
                seen = len(before.events) if before is not None else 0
                with watch_actions() as failed:
                    await self.agent.handle_message(message)
                tracker = await store.retrieve(conv.call_id)
        except Exception as exc:
            raise DialogError(f"the dialog model failed on a turn: {exc}") from exc
        if failed:
            raise DialogError(f"a custom action failed: {failed[0]}")
        # this turn's own parse (latest_message can point back to an earlier turn after a
        # repeat or inside a form)
        new_events = list(tracker.events)[seen:] if tracker is not None else []
        parsed = next((e.intent for e in new_events if getattr(e, "type_name", "") == "user"), None)
        conv.answered += [
            e.action_name
            for e in new_events
            if getattr(e, "type_name", "") == "action" and e.action_name in RESOLVING_ACTIONS
        ]
        return self._reply(conv, channel.messages, tracker, parsed)

    def _reply(
        self,
        conv: Conversation,
        outputs: list[dict[str, Any]],
        tracker: DialogueStateTracker | None,
        parsed: dict[str, Any] | None = None,
    ) -> DialogReply:
        slots = dict(tracker.current_slot_values()) if tracker else {}
        intent: str | None = None
        confidence = 0.0
        if parsed:
            intent = parsed.get("name")
            confidence = float(parsed.get("confidence") or 0.0)
            if intent and intent != "session_start":
                conv.intents.append(intent)
            else:
                intent = None
        texts: list[str] = []
        handoff: Handoff | None = None
        message: dict[str, Any] | None = None
        ended = False
        menu = False
        for out in outputs:
            if out.get("text"):
                texts.append(str(out["text"]))
            payload = (out.get("custom") or {}).get("voicebot") if out.get("custom") else None
            if not isinstance(payload, dict):
                continue
            kind = payload.get("type")
            if kind == "handoff":
                handoff = _handoff_from_payload(payload, slots)
            elif kind == "message":
                message = {k: payload.get(k) for k in ("department", "reason", "text")}
            elif kind == "end":
                ended = True
            elif kind == "menu":
                menu = True
            elif kind in ("survey_answer", "survey_end"):
                conv.survey.append(dict(payload))
        for t in texts:
            conv.transcript.append(Turn("bot", t))
        if texts:
            conv.last_bot_texts = tuple(texts)
        conv.requested_slot = slots.get("requested_slot")
        if handoff is not None:
            self.desk.record(conv, handoff)
            log.info(
                "hand-off call=%s department=%s reason=%s",
                conv.call_id,
                for_log(handoff.department),
                handoff.reason,
            )
        if message is not None:
            self.desk.take_message(conv, message)
        conv.ended = conv.ended or ended
        conv.expect = expected_input(conv.requested_slot, texts[-1] if texts else None)
        conv.menu_offered = menu
        conv.reasked = False
        return DialogReply(
            texts=tuple(texts),
            intent=intent,
            confidence=confidence,
            handoff=handoff,
            message=message,
            ended=ended,
            expect=conv.expect,
        )


def _menu_message(entry: MenuEntry) -> str:
    """The dialog message for a menu choice: a request for the department, or the intent."""
    if entry.department is not None:
        return "/request_human" + json.dumps({"department": entry.department})
    return f"/{entry.intent}"
