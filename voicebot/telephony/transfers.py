"""Handing a call to a person: blind transfer (REFER) and the bridged transfer used when a
REFER is refused (the line calls the agent itself and joins the two legs' audio).

Ringing an ACD agent (:func:`voicebot.telephony.agentring.ring_agent`) is a bridged
transfer with a whisper: when the agent answers, their leg first gets a CallIO of its own
(audio to and digits from the agent only), and the legs are joined only when the handler
asks (:meth:`TransferMixin.join_agent`), after the whisper.

:class:`TransferMixin` is part of :class:`~voicebot.telephony.line.SipLine`; it runs on the
pjsua2 thread like the rest of the line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, cast

import pjsua2 as pj

from voicebot.errors import TelephonyError
from voicebot.telephony.callio import CallDetails, CallIO, TransferResult, transfer_result
from voicebot.telephony.legs import CallLeg, LegControl, LineAccount, LineStats, PjCall
from voicebot.telephony.settings import SipSettings
from voicebot.telephony.sipmsg import header_safe, uri_with_headers

if TYPE_CHECKING:
    from voicebot.telephony.line import SipLine

log = logging.getLogger(__name__)


class TransferMixin:
    """REFER and bridged transfers of :class:`~voicebot.telephony.line.SipLine`."""

    name: str
    stats: LineStats
    _acc: LineAccount | None
    settings: SipSettings
    _loop: asyncio.AbstractEventLoop | None

    def adopt(self, call: CallLeg, pjc: PjCall) -> None:  # pragma: no cover - SipLine's
        raise NotImplementedError

    def _hangup(self, call: CallLeg, status: int) -> None:  # pragma: no cover - SipLine's
        raise NotImplementedError

    def _connect_port(self, call: CallLeg) -> bool:  # pragma: no cover - SipLine's
        raise NotImplementedError

    def _unlink_port(self, call: CallLeg) -> None:  # pragma: no cover - SipLine's
        raise NotImplementedError

    def transfer(self, call: CallLeg, uri: str, headers: Mapping[str, str]) -> None:
        """Blind transfer: REFER to ``uri`` with ``headers`` on the REFER and in Refer-To."""
        clean = {k: header_safe(v) for k, v in headers.items()}
        target = uri_with_headers(uri, clean)
        op = pj.CallOpParam(True)
        for name, value in clean.items():
            h = pj.SipHeader()
            h.hName, h.hValue = name, value
            op.txOption.headers.append(h)
        call.refer_accepted = False
        try:
            if call.pj is None:
                raise TelephonyError("the call has ended")
            call.pj.xfer(f"<{target}>", op)
        except pj.Error as exc:
            raise TelephonyError(f"REFER to {uri} failed: {exc.reason}") from None

    # ------------------------------------------------------------------ bridged transfer

    def bridge(
        self, call: CallLeg, uri: str, headers: Mapping[str, str], *, whisper: bool = False
    ) -> None:
        """Call ``uri`` with ``headers`` on the INVITE; :meth:`_join` links the audio (or,
        with ``whisper``, :meth:`_agent_answered` gives the agent's leg its own CallIO)."""
        if self._acc is None or call.disconnected:
            raise TelephonyError("the call has ended")
        agent = CallLeg(cast("SipLine", self))
        pjc = PjCall(agent, self._acc, pj.PJSUA_INVALID_ID)
        agent.is_agent_leg, agent.peer, agent.whisper = True, call, whisper
        op = pj.CallOpParam(True)
        for name, value in headers.items():
            h = pj.SipHeader()
            h.hName, h.hValue = name, header_safe(value)
            op.txOption.headers.append(h)
        try:
            pjc.makeCall(uri, op)
        except pj.Error as exc:
            raise TelephonyError(f"bridge call to {uri} failed: {exc.reason}") from None
        self.adopt(agent, pjc)
        call.peer = agent
        log.info("%s: bridging to the agent", self.name)

    def _agent_up(self, agent: CallLeg) -> None:
        """The agent's leg was answered or its media changed."""
        if agent.peer is not None and agent.peer.peer is not agent:
            self._hangup(agent, 200)  # answered after we gave up on it (crossed CANCEL)
            return
        if agent.whisper:
            self._agent_answered(agent)
        else:
            self._join(agent)

    def _agent_answered(self, agent: CallLeg) -> None:
        """Whisper mode: the agent answered; their leg gets its own CallIO and port."""
        caller = agent.peer
        if agent.io is not None or caller is None or caller.io is None or agent.pj is None:
            return
        if caller.disconnected or agent.disconnected:
            return
        ci = agent.pj.getInfo()
        if ci.state != pj.PJSIP_INV_STATE_CONFIRMED:
            return
        assert self._loop is not None
        agent.io = CallIO(
            CallDetails(call_id=ci.callIdString, called_uri=ci.remoteUri),
            LegControl(cast("SipLine", self), agent),
            loop=self._loop,
        )
        if not self._connect_port(agent):
            agent.io = None  # no active audio yet: the media callback comes back here
            return
        caller.io.agent = agent.io
        caller.io.transfer_finished(TransferResult.ACCEPTED)
        log.info("%s: agent answered; whispering", self.name)

    def join_agent(self, call: CallLeg) -> bool:
        """Whisper over: join the caller and the agent's leg (see :meth:`_join`)."""
        agent = call.peer
        if agent is None or agent.disconnected or call.disconnected:
            return False
        self._unlink_port(agent)
        if agent.io is not None:
            agent.io.mark_closed("joined with the caller")
            agent.io.detach()
            agent.io = None
        agent.whisper = False
        self._join(agent)
        return call.bridged

    def drop_agent(self, call: CallLeg) -> None:
        """Hang up the agent's leg; the caller stays with the bot."""
        agent = call.peer
        if agent is not None and not agent.disconnected:
            self._hangup(agent, 487)

    def _join(self, agent: CallLeg) -> None:
        caller = agent.peer
        if caller is None or caller.disconnected or caller.bridged:
            return
        if agent.pj is None or caller.pj is None:
            return
        ci = agent.pj.getInfo()
        if ci.state != pj.PJSIP_INV_STATE_CONFIRMED and ci.lastStatusCode != 200:
            return
        try:
            a_aud, c_aud = agent.pj.getAudioMedia(-1), caller.pj.getAudioMedia(-1)
        except pj.Error:
            return
        if caller.port is not None:
            caller.port.stopTransmit(c_aud)
            c_aud.stopTransmit(caller.port)
        c_aud.startTransmit(a_aud)
        a_aud.startTransmit(c_aud)
        caller.bridged = agent.bridged = True
        self.stats.transfers["bridged"] = self.stats.transfers.get("bridged", 0) + 1
        if caller.io is not None:
            caller.io.stop_playback()
            caller.io.close_reason = "bridged to agent"
            caller.io.transfer_finished(TransferResult.ACCEPTED)

    def _peer_gone(self, call: CallLeg, code: int) -> None:
        """One leg of a (would-be) bridge ended: end the other, or report the failure."""
        peer = call.peer
        if peer is None:
            return
        call.peer = None
        current = peer.peer is call  # not an earlier agent leg ending late (ACD: next agent)
        if current:
            peer.peer = None
        if call.bridged or (current and peer.bridged):
            self._hangup(peer, 200)
        elif call.is_agent_leg and peer.io is not None and current:
            peer.io.agent_code = code or 408
            peer.io.transfer_finished(transfer_result(code or 408))
        elif not call.is_agent_leg:
            self._hangup(peer, 487)

    def cancel_bridge(self, call: CallLeg) -> None:
        if call.peer is not None and not call.bridged:
            self._hangup(call.peer, 487)
