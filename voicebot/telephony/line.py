"""The SIP line of one process: a pjsua2 Endpoint driven from an asyncio event loop.

One :class:`SipLine` per process (pjsua2 allows one Endpoint, and this wheel 4 calls).
pjsua2 runs without threads of its own (``threadCnt = 0``, ``mainThreadOnly = True``): the
loop polls ``libHandleEvents(0)``, pjsua2 callbacks only append work to a list, and that work
runs right after the poll, on the loop, outside pjsua2's call stack. Only the media clock
thread calls in on its own, into :class:`~.media.FramePort`; while calls have audio, the
last caller frame of each 20 ms clock tick schedules the poll (:meth:`SipLine.media_wake`),
so a busy line wakes once per tick, when the frames are there, instead of on a 10 ms timer
that found nothing new every other time; the timer only backs it up (``MEDIA_POLL_S``).

Life of a call: INVITE -> checks (draining 503, networks 403, digest 401) -> 200 OK with
PCMU/PCMA (pjsua2 itself answers 488 to offers without them) -> ACK -> the handler runs
with a :class:`CallIO` -> BYE from either side or the time limit -> port, call and task are
released.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping

import pjsua2 as pj

from voicebot.callids import new_call_id
from voicebot.errors import TelephonyError
from voicebot.telephony.access import Gatekeeper
from voicebot.telephony.callio import (
    CallDetails,
    CallIO,
    DtmfMethod,
    Handler,
    TransferResult,
    transfer_result,
)
from voicebot.telephony.endpoint import account_config, configure_endpoint
from voicebot.telephony.legs import CallLeg, LegControl, LineAccount, LineStats, PjCall
from voicebot.telephony.media import FramePort
from voicebot.telephony.settings import SipSettings
from voicebot.telephony.sipmsg import (
    parse_headers,
    parse_name_addr,
)
from voicebot.telephony.transfers import TransferMixin

log = logging.getLogger(__name__)

POLL_S = 0.01
"""Seconds between two polls of pjsua2 (SIP sockets and timers; audio does not wait on it)."""
IDLE_POLL_S = 0.05
"""... while the line has no call, s: an idle worker then costs about 0.6 % of a core
instead of 1.8 % (measured), and a first INVITE waits at most this long."""
MEDIA_POLL_S = 0.1
"""... while the media clock wakes the line (a caller frame came within ``MEDIA_FRESH_S``),
s: the timer poll is then only a back-up for SIP events."""
MEDIA_FRESH_S = 0.06
"""Seconds after the last media wake-up during which the timer poll backs off."""
MEDIA_CHECK_S = 2.0
"""Seconds between two looks at a call's RTP counters (media timeout)."""
KEYPAD = frozenset("0123456789*#ABCD")
"""The DTMF keys a caller can press (RFC 4733 events 0-15)."""
HANDLER_EXIT_S = 3.0
"""Seconds a handler may run on after its call closed before it is cancelled."""


class SipLine(TransferMixin):
    """One Endpoint with UDP/TCP transports on ``sip_address:sip_port``, answering calls.

    Args:
        settings: the ``sip`` settings.
        handler: coroutine function run once per answered call.
        sip_address: address the SIP transports bind (media binds ``settings.media_address``).
        sip_port: SIP port (UDP and TCP).
        rtp_port: first RTP port; ``settings.rtp_ports`` ports from there are used.
        name: worker name in logs.
    """

    def __init__(
        self,
        settings: SipSettings,
        handler: Handler,
        *,
        sip_address: str,
        sip_port: int,
        rtp_port: int,
        name: str = "line",
    ) -> None:
        self.settings = settings
        self.handler = handler
        self.sip_address, self.sip_port, self.rtp_port = sip_address, sip_port, rtp_port
        self.name = name
        self.calls: dict[int, CallLeg] = {}  # by CallLeg.key, until released
        self._pj: dict[int, PjCall] = {}  # by pjsua call id: the only strong references
        self._ports: list[FramePort] = []  # every port made (never destroyed before the end)
        self._free_ports: list[FramePort] = []
        self.stats = LineStats()
        self.draining = False
        self.gate = Gatekeeper(
            settings.allowed_networks,
            settings.trusted_proxies,
            settings.auth_user,
            settings.auth_password,
            settings.auth_realm,
        )
        self._pending: list[Callable[[], None]] = []
        self._inbox: deque[tuple[CallIO, bytes]] = deque()  # caller frames from the media thread
        self._woken = False  # a media wake-up is scheduled and has not begun
        self._attached: set[FramePort] = set()  # ports linked to a call's audio
        self._last_port: FramePort | None = None  # of those, the last the bridge writes to
        self.media_wakes = [0, 0]
        """Media wake-ups so far: by the tick's last port, and by frames of two ticks."""
        self._media_at = -1e9  # time.monotonic() of the last media wake-up
        self._ep: pj.Endpoint | None = None
        self._acc: LineAccount | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Create the Endpoint, codecs, transports and account. Raises TelephonyError."""
        self._loop = asyncio.get_running_loop()
        s = self.settings
        ep = pj.Endpoint()
        ep.libCreate()
        self._ep = ep
        try:
            configure_endpoint(ep, s, self.sip_address, self.sip_port)
            acfg = account_config(s, self.sip_address, self.sip_port, self.rtp_port)
            acc = LineAccount(self)
            acc.create(acfg)
            self._acc = acc
        except pj.Error as exc:
            self._destroy()
            raise TelephonyError(
                f"{self.name}: cannot open SIP on {self.sip_address}:{self.sip_port}: {exc.reason}",
                hint="is the port taken by another process?",
            ) from None
        log.info(
            "%s: SIP on %s:%d (%s), RTP from %s:%d",
            self.name,
            self.sip_address,
            self.sip_port,
            "+".join(s.transports),
            s.media_address,
            self.rtp_port,
        )

    async def serve(self, stop: asyncio.Event) -> None:
        """Answer calls until ``stop`` is set, then drain: new INVITEs get 503, calls in
        progress may go on for ``shutdown_grace_s``, the rest are hung up; then destroy."""
        if self._ep is None:
            self.start()
        deadline: float | None = None
        try:
            while True:
                self.poll()
                if stop.is_set() and deadline is None:
                    self.draining = True
                    deadline = time.monotonic() + self.settings.shutdown_grace_s
                    log.info("%s: draining, %d call(s) in progress", self.name, len(self.calls))
                if deadline is not None:
                    if not self.calls:
                        break
                    if time.monotonic() > deadline:
                        await self._hang_up_all(2.0)
                        break
                await asyncio.sleep(self._poll_interval())
        finally:
            await self._hang_up_all(2.0)
            self._destroy()

    def _poll_interval(self) -> float:
        """Seconds until the next timer poll: long while the media clock wakes the line."""
        if not (self.calls or self._pending):
            return IDLE_POLL_S
        if time.monotonic() - self._media_at < MEDIA_FRESH_S:
            return MEDIA_POLL_S
        return POLL_S

    def media_wake(self, port: FramePort) -> None:
        """``port`` put a caller frame in the inbox (media thread): poll soon if it is the
        last port the bridge writes to in a tick (highest slot), or if frames of more than
        one tick wait (that port gave none). At most one wake-up is scheduled at a time."""
        if self._woken or self._loop is None:
            return
        if port is not self._last_port:
            if len(self._inbox) <= len(self._attached):
                return
            self.media_wakes[1] += 1
        else:
            self.media_wakes[0] += 1
        self._woken = True
        try:
            self._loop.call_soon_threadsafe(self._on_media)
        except RuntimeError:  # the loop is closed: the line is going away
            self._woken = False

    def _on_media(self) -> None:
        # cleared before the poll takes the inbox: a frame added after this schedules again
        self._woken = False
        self._media_at = time.monotonic()
        self.poll()

    def poll(self) -> None:
        """Let pjsua2 handle due events, then run the work its callbacks left."""
        if self._ep is None:
            return
        self._take_frames()
        self._ep.libHandleEvents(0)
        while self._pending:
            work, self._pending = self._pending, []
            for item in work:
                try:
                    item()
                except Exception:  # keep the line alive; the traceback is in the log
                    log.exception("%s: error handling a SIP event", self.name)

    def _take_frames(self) -> None:
        """Hand the caller frames the media thread left in the inbox to their calls."""
        inbox = self._inbox
        while inbox:
            io, data = inbox.popleft()
            io.feed_audio(data)

    def adopt(self, call: CallLeg, pjc: PjCall) -> None:
        """Track a new leg and hold its pjsua2 Call."""
        call.pj = pjc
        self.calls[call.key] = call
        self._pj[pjc.getId()] = pjc

    def drop_pj(self, pjc: PjCall) -> None:
        """Release a pjsua2 Call (from its DISCONNECTED callback)."""
        leg = pjc.leg
        if leg.pj is pjc:
            leg.pj = None
        if self._pj.get(pjc.getId()) is pjc:
            del self._pj[pjc.getId()]

    def defer(self, work: Callable[[], None]) -> None:
        """Run ``work`` after the current poll (called from pjsua2 callbacks)."""
        self._pending.append(work)

    async def _hang_up_all(self, wait_s: float) -> None:
        for call in list(self.calls.values()):
            self._hangup(call, 503 if call.io is None else 200)
        end = time.monotonic() + wait_s
        while self.calls and time.monotonic() < end:
            self.poll()
            await asyncio.sleep(POLL_S)

    def _take_port(self) -> FramePort:
        if self._free_ports:
            return self._free_ports.pop()
        assert self._loop is not None
        port = FramePort(self._inbox, len(self._ports), self.media_wake)
        self._ports.append(port)
        return port

    @staticmethod
    def _disconnect(port: FramePort, call: CallLeg) -> None:
        """Unlink a port from the call's audio (the bridge drops links of ended calls)."""
        if call.pj is None:
            return
        try:
            aud = call.pj.getAudioMedia(-1)
            port.stopTransmit(aud)
            aud.stopTransmit(port)
        except pj.Error:
            pass

    def media_ports(self) -> int:
        """Ports in the conference bridge now (1 when idle: the clock); leak check."""
        return int(self._ep.mediaActivePorts()) if self._ep is not None else 0

    def _destroy(self) -> None:
        log.info(
            "%s: closing; %d call object(s), %d of %d frame port(s) in use; media wake-ups: "
            "%d at a tick's last frame, %d late",
            self.name,
            len(self.calls),
            len(self._ports) - len(self._free_ports),
            len(self._ports),
            *self.media_wakes,
        )
        for call in list(self.calls.values()):
            self._release(call)
        self.calls.clear()
        self._pj.clear()
        self._free_ports.clear()
        self._ports.clear()
        gc.collect()  # every pjsua2 Call must be gone before libDestroy
        if self._acc is not None:
            with contextlib.suppress(pj.Error):
                self._acc.shutdown()
            self._acc = None
        if self._ep is not None:
            with contextlib.suppress(pj.Error):
                self._ep.libDestroy()
            self._ep = None

    # ------------------------------------------------------------------ SIP events

    def on_incoming(self, call: CallLeg, msg: str, src: str) -> None:
        headers = parse_headers(msg)
        if self.draining:
            self._reject(call, 503, "shutting down")
            return
        verdict = self.gate.check(src, "INVITE", headers)
        if verdict.status:
            extra = {"WWW-Authenticate": verdict.challenge} if verdict.challenge else {}
            log.info("%s: INVITE rejected %d: %s", self.name, verdict.status, verdict.reason)
            self._reject(call, verdict.status, verdict.reason, extra)
            return
        live = sum(1 for c in self.calls.values() if not c.disconnected)
        if live > self.settings.calls_per_worker:
            self._reject(call, 486, "busy")
            return
        name, uri, user = parse_name_addr(headers.get("from", ""))
        start_line = msg.split("\r\n", 1)[0].split("\n", 1)[0]
        parts = start_line.split()
        call.details = CallDetails(
            call_id=new_call_id(),
            caller_uri=uri,
            caller_id=user,
            caller_name=name,
            called_uri=parts[1] if len(parts) > 1 else "",
            source=self.gate.source(src, headers),
            headers=headers,
            answered_at=time.time(),
            sip_call_id=headers.get("call-id", ""),
        )
        log.info(
            "%s: call %s, SIP Call-ID %r", self.name, call.details.call_id, call.details.sip_call_id
        )
        op = pj.CallOpParam()
        op.statusCode = 200
        try:
            assert call.pj is not None
            call.pj.answer(op)
        except pj.Error as exc:
            log.warning("%s: answer failed: %s", self.name, exc.reason)
            self._reject(call, 500, "answer failed")
            return
        self.stats.answered += 1
        self.stats.active = len(self.calls)

    def _reject(
        self, call: CallLeg, status: int, reason: str, headers: Mapping[str, str] | None = None
    ) -> None:
        self.stats.rejected[status] = self.stats.rejected.get(status, 0) + 1
        op = pj.CallOpParam()
        op.statusCode = status
        for name, value in (headers or {}).items():
            h = pj.SipHeader()
            h.hName, h.hValue = name, value
            op.txOption.headers.append(h)
        try:
            if call.pj is None:
                raise pj.Error()
            call.pj.hangup(op)
        except pj.Error:
            self._release(call)

    def on_state(self, call: CallLeg, state: int, code: int, reason: str) -> None:
        if state == pj.PJSIP_INV_STATE_CONFIRMED and call.task is None and call.details:
            self._start_handler(call)
        elif state == pj.PJSIP_INV_STATE_CONFIRMED and call.is_agent_leg:
            self._agent_up(call)
        elif state == pj.PJSIP_INV_STATE_DISCONNECTED:
            call.disconnected = True
            self._peer_gone(call, code)
            if call.io is not None:
                why = call.io.close_reason or (
                    "caller hung up" if code in (0, 200) else f"ended {code} {reason}"
                )
                call.io.mark_closed(why)
                self.stats.completed += 0 if call.is_agent_leg else 1
            if call.task is None or call.task.done():
                self._release(call)

    def on_media(self, call: CallLeg) -> None:
        if call.is_agent_leg:
            self._agent_up(call)
            return
        if call.io is None and call.details is not None and not call.disconnected:
            self._make_io(call)
        self._connect_port(call)

    def _connect_port(self, call: CallLeg) -> bool:
        """Link a frame port between the call's active audio and its CallIO (once)."""
        if call.io is None or call.pj is None:
            return False
        if call.port is not None:
            return True
        ci = call.pj.getInfo()
        for i, media in enumerate(ci.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                assert self._loop is not None
                aud = call.pj.getAudioMedia(i)
                call.port = self._take_port()
                call.port.attach(call.io)
                self._attached.add(call.port)
                self._last_port = max(self._attached, key=lambda p: p.slot)
                aud.startTransmit(call.port)
                call.port.startTransmit(aud)
                return True
        return False

    def _unlink_port(self, call: CallLeg) -> None:
        """Take the call's frame port away (back to the pool); the call goes on."""
        if call.port is not None:
            port, call.port = call.port, None
            port.attach(None)
            self._attached.discard(port)
            self._last_port = max(self._attached, key=lambda p: p.slot, default=None)
            self._disconnect(port, call)
            self._free_ports.append(port)

    def on_dtmf(self, call: CallLeg, digit: str, method: int, duration: int) -> None:
        if digit not in KEYPAD:  # e.g. 'Signal=Z' in a SIP INFO: nothing a keypad sends
            log.info("%s: ignored a DTMF event that is not a key", self.name)
            return
        if call.io is not None:
            kind: DtmfMethod = "sip-info" if method == pj.PJSUA_DTMF_METHOD_SIP_INFO else "rfc4733"
            call.io.feed_dtmf(digit, kind, duration)
            log.debug("%s: digit received (%s)", self.name, kind)  # the digit itself: never

    def on_transfer_status(self, call: CallLeg, code: int, final: bool) -> None:
        if code == 202 or 100 <= code < 200:
            call.refer_accepted = True
            return
        if code < 200:
            return
        result = transfer_result(code, refer_response=not call.refer_accepted)
        self.stats.transfers[result.value] = self.stats.transfers.get(result.value, 0) + 1
        log.info("%s: transfer %s (%d)", self.name, result.value, code)
        if call.io is not None:
            call.io.transfer_finished(result)
            if result is TransferResult.ACCEPTED:
                call.io.close_reason = "transferred"
                self._hangup(call, 200)

    # ------------------------------------------------------------------ per call

    def _make_io(self, call: CallLeg) -> None:
        assert call.details is not None and self._loop is not None
        call.io = CallIO(
            call.details,
            LegControl(self, call),
            transfer_timeout_s=self.settings.transfer_timeout_s,
            loop=self._loop,
        )

    def _start_handler(self, call: CallLeg) -> None:
        if call.io is None:
            self._make_io(call)
        assert call.io is not None
        call.task = asyncio.get_running_loop().create_task(self._run_handler(call))
        call.timer = asyncio.get_running_loop().create_task(self._time_limit(call))

    async def _run_handler(self, call: CallLeg) -> None:
        io = call.io
        assert io is not None
        work = asyncio.ensure_future(self.handler(io))
        try:
            done, _ = await asyncio.wait(
                {work, asyncio.ensure_future(io.closed.wait())}, return_when=asyncio.FIRST_COMPLETED
            )
            if work not in done:  # the call ended first: give the handler a moment to finish
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(work), HANDLER_EXIT_S)
            if not work.done():
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await work
            elif not work.cancelled() and work.exception() is not None:
                log.error("%s: call handler failed", self.name, exc_info=work.exception())
        finally:
            while call.bridged and not call.disconnected:  # the agent has the caller now
                await asyncio.sleep(0.1)
            if not call.disconnected:
                io.close_reason = io.close_reason or "bot hung up"
                self._hangup(call, 200)
                while not call.disconnected:
                    await asyncio.sleep(0.02)
            if call.timer is not None:
                call.timer.cancel()
            self._release(call)

    async def _time_limit(self, call: CallLeg) -> None:
        """Hang up at the maximum call length, or when the caller's RTP stopped."""
        io = call.io
        assert io is not None
        s = self.settings
        end = time.monotonic() + s.max_call_s
        last_pkts, last_change = -1, time.monotonic()
        while not io.closed.is_set() and not call.bridged:
            left = end - time.monotonic()
            if left <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(io.closed.wait(), min(left, MEDIA_CHECK_S))
            if io.closed.is_set() or call.disconnected or s.media_timeout_s <= 0:
                continue
            pkts = self._rx_packets(call)
            if pkts != last_pkts:
                last_pkts, last_change = pkts, time.monotonic()
            elif time.monotonic() - last_change > s.media_timeout_s:
                log.info("%s: no RTP for %.0f s; hanging up", self.name, s.media_timeout_s)
                io.close_reason = "no media"
                self._hangup(call, 200)
                return
        if io.closed.is_set() or call.bridged:
            return
        log.info("%s: call reached the %.0f s limit", self.name, s.max_call_s)
        io.close_reason = "time limit"
        if io.on_time_limit is not None:
            io.stop_playback()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(io.on_time_limit(io), s.limit_notice_s)
        self._hangup(call, 200)

    @staticmethod
    def _rx_packets(call: CallLeg) -> int:
        """RTP packets received so far on the call's first active audio stream."""
        try:
            if call.pj is None:
                return -1
            ci = call.pj.getInfo()
            for i, media in enumerate(ci.media):
                if media.type == pj.PJMEDIA_TYPE_AUDIO:
                    return int(call.pj.getStreamStat(i).rtcp.rxStat.pkt)
        except pj.Error:
            pass
        return -1

    def _hangup(self, call: CallLeg, status: int) -> None:
        if call.disconnected:
            return
        op = pj.CallOpParam()
        op.statusCode = status
        try:
            if call.pj is not None:
                call.pj.hangup(op)
        except pj.Error as exc:
            log.debug("%s: hangup: %s", self.name, exc.reason)

    def _release(self, call: CallLeg) -> None:
        """Disconnect the port and drop every reference to the call (after DISCONNECTED).

        The CallIO may outlive the call in the handler's hands, so its control is cut loose:
        a pjsua2 Call collected after ``libDestroy`` would abort the process.
        """
        self._unlink_port(call)
        if call.disconnected or self._ep is None:
            if call.io is not None:
                call.io.detach()
                call.io = None
            self.calls.pop(call.key, None)
            self.stats.active = len(self.calls)
