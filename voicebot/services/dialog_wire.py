"""Dialog replies and conversations as plain maps for the wire (and back)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from voicebot.dialog.bridge import Conversation
from voicebot.events import DialogReply, Handoff, HandoffReason
from voicebot.handoff import Turn


def handoff_to_wire(h: Handoff | None) -> dict[str, Any] | None:
    if h is None:
        return None
    data = asdict(h)
    data["reason"] = str(h.reason)
    return data


def handoff_from_wire(data: dict[str, Any] | None) -> Handoff | None:
    if data is None:
        return None
    return Handoff(**{**data, "reason": HandoffReason(data["reason"])})


def reply_to_wire(r: DialogReply) -> dict[str, Any]:
    return {
        "texts": list(r.texts),
        "intent": r.intent,
        "confidence": r.confidence,
        "handoff": handoff_to_wire(r.handoff),
        "message": r.message,
        "ended": r.ended,
        "expect": r.expect,
    }


def reply_from_wire(data: dict[str, Any]) -> DialogReply:
    return DialogReply(
        texts=tuple(data.get("texts") or ()),
        intent=data.get("intent"),
        confidence=float(data.get("confidence") or 0.0),
        handoff=handoff_from_wire(data.get("handoff")),
        message=data.get("message"),
        ended=bool(data.get("ended")),
        expect=data.get("expect") or "free",
    )


def conversation_to_wire(c: Conversation) -> dict[str, Any]:
    return {
        "call_id": c.call_id,
        "caller_id": c.caller_id,
        "sip_call_id": c.sip_call_id,
        "transcript": [[t.speaker, t.text] for t in c.transcript],
        "intents": list(c.intents),
        "handoff": handoff_to_wire(c.handoff),
        "message": c.message,
        "ended": c.ended,
        "requested_slot": c.requested_slot,
        "last_bot_texts": list(c.last_bot_texts),
        "answered": list(c.answered),
        "expect": c.expect,
        "menu_offered": c.menu_offered,
        "reasked": c.reasked,
        "survey": list(c.survey),
        "handoff_reference": c.handoff_reference,
    }


def conversation_from_wire(data: dict[str, Any]) -> Conversation:
    return Conversation(
        call_id=str(data["call_id"]),
        caller_id=data.get("caller_id"),
        sip_call_id=data.get("sip_call_id"),
        transcript=[Turn(str(s), str(t)) for s, t in data.get("transcript") or ()],
        intents=list(data.get("intents") or ()),
        handoff=handoff_from_wire(data.get("handoff")),
        message=data.get("message"),
        ended=bool(data.get("ended")),
        requested_slot=data.get("requested_slot"),
        last_bot_texts=tuple(data.get("last_bot_texts") or ()),
        answered=list(data.get("answered") or ()),
        expect=data.get("expect") or "free",
        menu_offered=bool(data.get("menu_offered")),
        reasked=bool(data.get("reasked")),
        survey=list(data.get("survey") or ()),
        handoff_reference=data.get("handoff_reference"),
    )
