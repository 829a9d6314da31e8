"""The call legs a :class:`~voicebot.telephony.line.SipLine` tracks, and the pjsua2 objects
that report on them. Every pjsua2 callback only hands work to the line (``line.defer``): the
work runs on the event loop after the poll, outside pjsua2's call stack.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pjsua2 as pj

from voicebot.telephony.callio import CallDetails, CallIO
from voicebot.telephony.media import FramePort

if TYPE_CHECKING:
    from voicebot.telephony.line import SipLine


@dataclass
class LineStats:
    """Counters of one line since it started (for logs and the load benchmark)."""

    answered: int = 0
    rejected: dict[int, int] = field(default_factory=dict)
    completed: int = 0
    transfers: dict[str, int] = field(default_factory=dict)
    active: int = 0


class CallLeg:
    """One call leg as the line tracks it (pure Python; outlives its pjsua2 object).

    ``pj`` is the pjsua2 Call while the call exists. It is dropped inside the DISCONNECTED
    callback: pjsua reuses call slots at once, and a pjsua2 Call destroyed later would clear
    (and hang up!) whatever new call took its slot.
    """

    _keys = 0

    def __init__(self, line: SipLine) -> None:
        CallLeg._keys += 1
        self.key = CallLeg._keys
        self.line = line
        self.pj: PjCall | None = None
        self.io: CallIO | None = None
        self.port: FramePort | None = None
        self.task: asyncio.Task[None] | None = None
        self.timer: asyncio.Task[None] | None = None
        self.details: CallDetails | None = None
        self.refer_accepted = False
        self.disconnected = False
        self.peer: CallLeg | None = None  # the other leg of a bridged transfer
        self.is_agent_leg = False  # this call was placed by the bot to bridge to an agent
        self.bridged = False  # audio flows between this call and its peer
        self.whisper = False  # an agent leg that gets its own CallIO before the join
        self.final_status = 0  # the SIP status the call ended with (outbound calls)
        self.final_reason = ""


class PjCall(pj.Call):
    """The pjsua2 Call of a leg; every callback hands its work to the line (by leg)."""

    def __init__(self, leg: CallLeg, acc: pj.Account, call_id: int) -> None:
        super().__init__(acc, call_id)
        self.leg = leg

    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802 - pjsua2 API
        ci = self.getInfo()
        leg, state, code, reason = self.leg, ci.state, ci.lastStatusCode, ci.lastReason
        if state == pj.PJSIP_INV_STATE_DISCONNECTED:
            # Let go of this object now, while its slot is still ours (see CallLeg).
            leg.line.drop_pj(self)
        leg.line.defer(lambda: leg.line.on_state(leg, state, code, reason))

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802
        leg = self.leg
        leg.line.defer(lambda: leg.line.on_media(leg))

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:  # noqa: N802 - pjsua2 API
        leg, digit, method, duration = self.leg, str(prm.digit), int(prm.method), int(prm.duration)
        leg.line.defer(lambda: leg.line.on_dtmf(leg, digit, method, duration))

    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:  # noqa: N802
        leg, code, final = self.leg, int(prm.statusCode), bool(prm.finalNotify)
        if code >= 200 and code != 202:
            prm.cont = False  # one final answer is all we need
        leg.line.defer(lambda: leg.line.on_transfer_status(leg, code, final))


class LineAccount(pj.Account):
    def __init__(self, line: SipLine) -> None:
        super().__init__()
        self.line = line

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:  # noqa: N802
        call = CallLeg(self.line)
        # The Call must exist before this returns (else pjsua2 answers 500); the rest waits.
        self.line.adopt(call, PjCall(call, self, prm.callId))
        msg, src = str(prm.rdata.wholeMsg), str(prm.rdata.srcAddress)
        self.line.defer(lambda: self.line.on_incoming(call, msg, src))


class LegControl:
    """The :class:`CallControl` a CallIO uses, bound to one pjsua2 call."""

    def __init__(self, line: SipLine, call: CallLeg) -> None:
        self._line, self._call = line, call

    def start_transfer(self, uri: str, headers: Mapping[str, str]) -> None:
        self._line.transfer(self._call, uri, headers)

    def start_bridge(self, uri: str, headers: Mapping[str, str]) -> None:
        self._line.bridge(self._call, uri, headers)

    def cancel_bridge(self) -> None:
        self._line.cancel_bridge(self._call)

    def start_ring(self, uri: str, headers: Mapping[str, str]) -> None:
        self._line.bridge(self._call, uri, headers, whisper=True)

    def join_agent(self) -> bool:
        return self._line.join_agent(self._call)

    def drop_agent(self) -> None:
        self._line.drop_agent(self._call)

    def hang_up(self, status: int) -> None:
        if self._call.io is not None and not self._call.io.close_reason:
            self._call.io.close_reason = "bot hung up"
        self._line._hangup(self._call, status)
