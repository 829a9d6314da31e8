"""Calls the bot places: a :class:`~voicebot.telephony.line.SipLine` that dials out.

:meth:`OutboundLine.dial` sends an INVITE from the campaign's caller ID to a number or SIP
URI (through the configured outbound proxy: Kamailio or a trunk) and waits for the final
answer: a failure status, the ring timeout (then it CANCELs: 487), or 200 OK, which hands
back the call's :class:`~voicebot.telephony.callio.CallIO` -- the same object inbound calls
give their handler, with the same media, time limit, media timeout and hang-up rules. The
caller of :meth:`dial` owns the answered call until it calls :meth:`OutboundCall.finish`
(or the callee hangs up); then the line hangs up and releases it.

INVITEs that come *to* a dialer line are refused (403): it only calls out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import pjsua2 as pj

from voicebot.callids import new_call_id
from voicebot.errors import TelephonyError
from voicebot.telephony.callio import CallDetails, CallIO
from voicebot.telephony.endpoint import account_config
from voicebot.telephony.legs import CallLeg, LineAccount, PjCall
from voicebot.telephony.line import SipLine
from voicebot.telephony.settings import SipSettings

log = logging.getLogger(__name__)

SLOT_WAIT_S = 40.0
"""Seconds :meth:`OutboundLine.dial` waits for a pjsua call slot held by an ending call."""
CANCEL_WAIT_S = 5.0
"""Seconds to wait for the final answer (487) after a CANCEL before giving up on the leg."""


@dataclass
class OutboundCall:
    """One dialled call.

    Attributes:
        status: the final SIP status (200 when answered; 487 after our CANCEL; 0 when no
            answer came at all).
        reason: its reason phrase, or ``ring timeout``.
        timed_out: nobody answered within the ring timeout (we sent CANCEL).
        io: the answered call (None unless ``status`` is 200).
        ring_s: seconds from the INVITE to the final answer.
    """

    status: int
    reason: str
    timed_out: bool = False
    io: CallIO | None = None
    ring_s: float = 0.0
    _done: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def finish(self) -> None:
        """The caller is done with the answered call: the line hangs up (BYE)."""
        self._done.set()


class OutboundLine(SipLine):
    """A line that places calls (at most ``settings.calls_per_worker`` at once).

    Args:
        settings: the ``sip`` settings (codecs, media address, time limits).
        sip_address / sip_port / rtp_port: where this line's SIP and RTP bind.
        proxy: outbound proxy URI every INVITE goes through (``sip:127.0.0.1:5060;lr``),
            "" to send straight to the callee's URI.
        name: in logs.
    """

    def __init__(
        self,
        settings: SipSettings,
        *,
        sip_address: str,
        sip_port: int,
        rtp_port: int,
        proxy: str = "",
        name: str = "dialer",
    ) -> None:
        super().__init__(
            settings,
            self._owned,
            sip_address=sip_address,
            sip_port=sip_port,
            rtp_port=rtp_port,
            name=name,
        )
        self.proxy = proxy
        self._accounts: dict[str, LineAccount] = {}
        self._waiting: dict[str, asyncio.Future[CallIO]] = {}  # by internal call id
        self._calls: dict[str, OutboundCall] = {}
        self.placed = 0

    def _account(self, caller_id: str) -> LineAccount:
        """One pjsua2 account per caller ID (its From user), made on first use."""
        acc = self._accounts.get(caller_id)
        if acc is not None:
            return acc
        acfg = account_config(self.settings, self.sip_address, self.sip_port, self.rtp_port)
        user = caller_id or "voicebot"
        acfg.idUri = f"sip:{user}@{self.sip_address}:{self.sip_port}"
        if self.proxy:
            acfg.sipConfig.proxies.append(self.proxy)
        acc = LineAccount(self)
        try:
            acc.create(acfg)
        except pj.Error as exc:
            raise TelephonyError(
                f"{self.name}: bad caller ID {caller_id!r}: {exc.reason}"
            ) from None
        self._accounts[caller_id] = acc
        return acc

    def _destroy(self) -> None:
        for acc in self._accounts.values():
            with contextlib.suppress(pj.Error):
                acc.shutdown()
        self._accounts.clear()
        super()._destroy()

    def on_incoming(self, call: CallLeg, msg: str, src: str) -> None:
        self._reject(call, 403, "outbound only")

    def active(self) -> int:
        """Calls ringing or up on this line now."""
        return sum(1 for c in self.calls.values() if not c.disconnected)

    async def dial(
        self, uri: str, *, caller_id: str = "", ring_timeout_s: float = 30.0
    ) -> OutboundCall:
        """Call ``uri`` and wait for its final answer (see the module docstring).

        Raises TelephonyError when the INVITE cannot be sent (bad URI, no free call slot).
        """
        loop = asyncio.get_running_loop()
        if self._ep is None:
            raise TelephonyError(f"{self.name}: the line is not started")
        deadline = loop.time() + SLOT_WAIT_S
        while len(self._pj) >= self.settings.calls_per_worker:  # pjsua call slots in use
            if loop.time() > deadline:
                raise TelephonyError(f"{self.name}: no free call slot for {SLOT_WAIT_S:g} s")
            await asyncio.sleep(0.05)
        acc = self._account(caller_id)
        leg = CallLeg(self)
        leg.details = CallDetails(call_id=new_call_id(), caller_id=caller_id, called_uri=uri)
        pjc = PjCall(leg, acc, pj.PJSUA_INVALID_ID)
        answered: asyncio.Future[CallIO] = loop.create_future()
        call_id = leg.details.call_id
        call = OutboundCall(0, "")
        self._waiting[call_id], self._calls[call_id] = answered, call
        started = loop.time()
        while True:
            try:
                pjc.makeCall(uri, pj.CallOpParam(True))
                break
            except pj.Error as exc:
                # a call slot is freed a moment after its call's DISCONNECTED event
                if "ETOOMANY" in exc.reason and loop.time() < deadline:
                    await asyncio.sleep(0.1)
                    continue
                del self._waiting[call_id], self._calls[call_id]
                raise TelephonyError(f"{self.name}: cannot call {uri}: {exc.reason}") from None
        self.adopt(leg, pjc)
        self.placed += 1
        ended = asyncio.ensure_future(self._until_disconnected(leg))
        try:
            waits: set[asyncio.Future[Any]] = {answered, ended}
            done, _ = await asyncio.wait(
                waits, timeout=ring_timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
            call.ring_s = loop.time() - started
            if answered in done:
                call.status, call.reason, call.io = 200, "OK", answered.result()
                return call
            self._calls.pop(call_id, None)
            if ended in done:
                call.status, call.reason = ended.result()
                return call
            self._hangup(leg, 487)  # CANCEL
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(ended), CANCEL_WAIT_S)
            call.finish()  # a 200 OK that crossed our CANCEL is hung up at once
            call.status = ended.result()[0] if ended.done() else 0
            call.reason, call.timed_out = "ring timeout", True
            return call
        finally:
            self._waiting.pop(call_id, None)
            if not ended.done():
                ended.cancel()

    async def _until_disconnected(self, leg: CallLeg) -> tuple[int, str]:
        while not leg.disconnected:
            await asyncio.sleep(0.02)
        return leg.final_status, leg.final_reason

    def on_state(self, call: CallLeg, state: int, code: int, reason: str) -> None:
        if state == pj.PJSIP_INV_STATE_DISCONNECTED:
            call.final_status, call.final_reason = code, reason
        super().on_state(call, state, code, reason)

    async def _owned(self, io: CallIO) -> None:
        """The line's handler for an answered outbound call: hand the CallIO to :meth:`dial`
        and hold the call until its owner is done or the callee hangs up."""
        call_id = io.details.call_id
        waiter = self._waiting.get(call_id)
        if waiter is None or waiter.done():
            return  # answered after we gave up (CANCEL crossed with 200): hang up
        call = self._calls.get(call_id)
        if call is None:
            return
        waiter.set_result(io)
        closed = asyncio.ensure_future(io.closed.wait())
        finished = asyncio.ensure_future(call._done.wait())
        try:
            await asyncio.wait({closed, finished}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            finished.cancel()
            self._calls.pop(call_id, None)
