"""Handing a call to a person: blind transfer (REFER) and the bridged transfer used when a
REFER is refused (the line calls the agent itself and joins the two legs' audio).

:class:`TransferMixin` is part of :class:`~voicebot.telephony.line.SipLine`; it runs on the
pjsua2 thread like the rest of the line.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, cast

import pjsua2 as pj

from voicebot.errors import TelephonyError
from voicebot.telephony.callio import TransferResult, transfer_result
from voicebot.telephony.legs import CallLeg, LineAccount, LineStats, PjCall
from voicebot.telephony.sipmsg import header_safe, uri_with_headers

if TYPE_CHECKING:
    from voicebot.telephony.line import SipLine

log = logging.getLogger(__name__)


class TransferMixin:
    """REFER and bridged transfers of :class:`~voicebot.telephony.line.SipLine`."""

    name: str
    stats: LineStats
    _acc: LineAccount | None

    def adopt(self, call: CallLeg, pjc: PjCall) -> None:  # pragma: no cover - SipLine's
        raise NotImplementedError

    def _hangup(self, call: CallLeg, status: int) -> None:  # pragma: no cover - SipLine's
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

    def bridge(self, call: CallLeg, uri: str, headers: Mapping[str, str]) -> None:
        """Call ``uri`` with ``headers`` on the INVITE; :meth:`_join` links the audio."""
        if self._acc is None or call.disconnected:
            raise TelephonyError("the call has ended")
        agent = CallLeg(cast("SipLine", self))
        pjc = PjCall(agent, self._acc, pj.PJSUA_INVALID_ID)
        agent.is_agent_leg, agent.peer = True, call
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
        if peer.peer is call:
            peer.peer = None
        if call.bridged or peer.bridged:
            self._hangup(peer, 200)
        elif call.is_agent_leg and peer.io is not None:
            peer.io.transfer_finished(transfer_result(code or 408))
        elif not call.is_agent_leg:
            self._hangup(peer, 487)

    def cancel_bridge(self, call: CallLeg) -> None:
        if call.peer is not None and not call.bridged:
            self._hangup(call.peer, 487)
