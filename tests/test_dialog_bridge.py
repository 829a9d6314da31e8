"""The dialog bridge on the real trained model and the real action server.

Each test is a text conversation (as ``voicebot chat`` has it) through the same bridge the
phone line uses; the action server's clock is frozen at Monday 18:30 UTC (contracts closed).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path

import pytest

from voicebot.dialog.bridge import DialogBridge
from voicebot.events import DialogReply
from voicebot.handoff import HandoffLog
from voicebot.messages import MessageStore

_ids = itertools.count(1)


class Chat:
    """One conversation: say() a line, get the bot's reply."""

    def __init__(self, bridge: DialogBridge, loop: asyncio.AbstractEventLoop, caller_id=None):  # type: ignore[no-untyped-def]
        self.bridge = bridge
        self.loop = loop
        self.call_id = f"test-{next(_ids)}"
        self.greeting = loop.run_until_complete(bridge.start(self.call_id, caller_id))

    def say(self, text: str) -> DialogReply:
        return self.loop.run_until_complete(self.bridge.handle(self.call_id, text))

    @property
    def conv(self):  # type: ignore[no-untyped-def]
        return self.bridge.conversation(self.call_id)


@pytest.fixture()
def stores(tmp_path: Path) -> tuple[HandoffLog, MessageStore]:
    return HandoffLog(tmp_path / "handoffs.jsonl"), MessageStore(tmp_path / "messages.sqlite3")


@pytest.fixture()
def chat(rasa_agent, event_loop_runner, stores):  # type: ignore[no-untyped-def]
    bridge = DialogBridge(rasa_agent, handoffs=stores[0], messages=stores[1])
    return lambda caller_id=None: Chat(bridge, event_loop_runner, caller_id)


def text(reply: DialogReply) -> str:
    return " ".join(reply.texts).lower()


def test_greeting_names_the_company(chat) -> None:  # type: ignore[no-untyped-def]
    c = chat()
    assert "brightline" in text(c.greeting)
    assert c.greeting.handoff is None


def test_opening_hours_are_answered_and_resolved(chat) -> None:  # type: ignore[no-untyped-def]
    c = chat()
    reply = c.say("uh what time are you open on saturday")
    assert reply.intent == "ask_opening_hours"
    assert any(word in text(reply) for word in ("saturday", "open", "am"))
    c.say("no thanks goodbye")
    assert c.conv.outcome().kind == "resolved"


def test_balance_needs_identification_and_secrets_stay_out(chat, stores) -> None:  # type: ignore[no-untyped-def]
    c = chat()
    reply = c.say("what's my balance")
    assert reply.expect == "digits"  # the account number is asked for
    reply = c.say("one two three four five six seven eight")
    assert c.conv.requested_slot == "pin"  # then the PIN (or a date of birth: free speech)
    assert reply.expect == "free"
    reply = c.say("1234")
    said = text(reply)
    assert "alice" in said and ("42" in said or "forty" in said)
    transcript = " ".join(t.text for t in c.conv.transcript)
    assert "1234" not in transcript and "one two three four" not in transcript
    assert "[redacted]" in transcript


def test_goodbye_while_the_pin_is_asked_ends_the_call(chat) -> None:  # type: ignore[no-untyped-def]
    c = chat()
    c.say("what's my balance")
    c.say("one two three four five six seven eight")
    assert c.conv.requested_slot == "pin"
    reply = c.say("actually never mind goodbye")
    assert reply.ended and "goodbye" in text(reply)
    assert c.conv.requested_slot is None  # the form stopped asking
    assert c.conv.outcome().kind != "routed"  # not an identification failure


def test_caller_id_skips_the_account_number(chat) -> None:  # type: ignore[no-untyped-def]
    c = chat(caller_id="+441632960001")
    reply = c.say("where is my order")
    assert c.conv.requested_slot == "pin"
    assert "pin" in text(reply) and "account" not in text(reply)
    reply = c.say("1 2 3 4")
    assert "router" in text(reply)


def test_three_failed_identifications_go_to_a_person(chat, stores) -> None:  # type: ignore[no-untyped-def]
    c = chat()
    c.say("what is my balance")
    reply = None
    for wrong in ("9999", "8888", "7777"):
        if c.conv.requested_slot == "account_number":
            c.say("12345678")
        reply = c.say(wrong)
        if reply.handoff:
            break
    assert reply is not None and reply.handoff is not None
    assert reply.handoff.department == "customer_service"
    assert reply.handoff.reason == "identification_failed"
    records = stores[0].read_all()
    assert records and records[-1]["reason"] == "identification_failed"
    raw = stores[0].path.read_text()
    assert "9999" not in raw and "12345678" not in raw


def test_billing_routes_with_context(chat, stores) -> None:  # type: ignore[no-untyped-def]
    c = chat()
    reply = c.say("i have a question about my bill")
    assert reply.handoff is not None and reply.handoff.department == "billing"
    assert reply.handoff.reason == "routed" and reply.handoff.is_open
    assert reply.handoff.transfer_uri.startswith("sip:")
    record = stores[0].read_all()[-1]
    assert record["intent"] == "billing_question"
    assert record["transcript"][-2]["text"] == "i have a question about my bill"
    assert c.conv.outcome().kind == "routed"


@pytest.mark.parametrize(
    ("utterance", "department"),
    [
        ("i want to buy a new broadband package", "sales"),
        ("i want to make a complaint", "complaints"),
    ],
)
def test_department_routes(chat, utterance: str, department: str) -> None:  # type: ignore[no-untyped-def]
    reply = chat().say(utterance)
    assert reply.handoff is not None and reply.handoff.department == department


def test_a_doubtful_route_is_confirmed_before_the_transfer(chat, stores) -> None:  # type: ignore[no-untyped-def]
    c = chat()
    reply = c.say("there is something odd on my statement")  # billing, but not sure (< 0.5)
    assert reply.intent == "billing_question" and reply.confidence < 0.5
    assert reply.handoff is None and "billing" in text(reply) and reply.expect == "yes_no"
    assert not stores[0].read_all()  # nothing handed off yet
    reply = c.say("yes please")
    assert reply.handoff is not None and reply.handoff.department == "billing"
    assert reply.handoff.intent == "billing_question"  # the route's intent, not "affirm"
    assert stores[0].read_all()[-1]["department"] == "billing"


def test_a_declined_route_asks_again_and_transfers_nobody(chat, stores) -> None:  # type: ignore[no-untyped-def]
    c = chat()
    reply = c.say("money went out of my account")  # misheard as cancelling, 0.27
    assert reply.handoff is None and "contracts" in text(reply)
    reply = c.say("no")
    assert reply.handoff is None and not reply.ended  # not the "no, nothing else" goodbye
    assert "what can i help you with" in text(reply)
    reply = c.say("I have a question about my bill")
    assert reply.handoff is not None and reply.handoff.department == "billing"
    assert [r["department"] for r in stores[0].read_all()] == ["billing"]


def test_out_of_hours_takes_a_message(chat, stores) -> None:  # type: ignore[no-untyped-def]
    c = chat()
    reply = c.say("i want to cancel my contract")
    assert reply.handoff is None or not reply.handoff.is_open
    assert "message" in text(reply)
    c.say("yes please")
    reply = c.say("please call me back about cancelling my contract")
    assert reply.message is not None and reply.message["department"] == "contracts"
    stored = stores[1].all()
    assert stored and "cancelling" in stored[-1].text
    assert c.conv.outcome().kind == "message"


def test_upset_caller_goes_to_a_person(chat) -> None:  # type: ignore[no-untyped-def]
    reply = chat().say("this is ridiculous you people are useless")
    assert reply.handoff is not None and reply.handoff.reason == "upset"


def test_two_misunderstandings_go_to_a_person(chat) -> None:  # type: ignore[no-untyped-def]
    c = chat()
    first = c.say("the purple giraffe sings opera on the roof")
    assert first.handoff is None
    second = c.say("bananas are flying over the mountains tonight")
    assert second.handoff is not None
    assert second.handoff.reason == "not_understood"
    assert second.handoff.department == "customer_service"


def test_asking_for_a_person(chat) -> None:  # type: ignore[no-untyped-def]
    reply = chat().say("can i speak to a real person please")
    assert reply.handoff is not None and reply.handoff.reason == "requested"


def test_handoff_record_is_json_lines(chat, stores) -> None:  # type: ignore[no-untyped-def]
    chat().say("can i talk to someone about my bill")
    lines = stores[0].path.read_text().splitlines()
    assert lines and all(json.loads(line)["call_id"].startswith("test-") for line in lines)


@pytest.mark.parametrize(
    "first",
    ["is there an outage at postcode m one one a a", "is there a power cut in M11AA"],
)
def test_after_an_outage_answer_the_next_turn_is_not_a_postcode(chat, first: str) -> None:  # type: ignore[no-untyped-def]
    """The outage answer ends on "anything else?": the next turn is a yes/no answer, not
    the postcode again (with the 1 s endpoint and letters' prompt of a postcode question)."""
    c = chat()
    reply = c.say(first)
    assert reply.intent == "check_outage"
    assert "anything else" in text(reply)
    assert c.conv.requested_slot is None
    assert reply.expect == "yes_no"
