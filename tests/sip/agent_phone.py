"""A test agent's phone: a real pjsua2 user agent in its own process (one Endpoint per process).

It registers ``sip:<user>@<registrar>`` (SIP REGISTER, like any desk phone; digest auth with
``--password``; a refresh every ``--reregister-every`` s), then takes the calls it gets (up to
``--max-calls``, one after another): answers after ``--answer-after`` seconds (or never,
``--no-answer``),
records what it hears into ``--record``, presses ``--digits`` ``--digits-at`` seconds after
answering, and hangs up after ``--talk`` seconds unless the other side does first. It writes
a JSON report (registration status, calls, events) when ``--duration`` is over or after the
last call ended. Touch ``--ready`` is written once the registration is confirmed. With
``--dial URI`` it instead calls ``URI`` once registered (e.g. a keypad feature code), records
what it hears and ends when the other side hangs up (or after ``--talk``).
The report's ``reg_codes`` lists every REGISTER outcome (200, 401, 403...).
"""

from __future__ import annotations

import argparse
import gc
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pjsua2 as pj

T0 = time.monotonic()
events: list[dict[str, Any]] = []


def note(kind: str, **data: Any) -> None:
    events.append({"t": round(time.monotonic() - T0, 3), "event": kind, **data})


class Call(pj.Call):
    def __init__(self, acc: pj.Account, call_id: int) -> None:
        super().__init__(acc, call_id)
        self.state = 0
        self.code = 0
        self.media_up = False

    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802
        ci = self.getInfo()
        self.state, self.code = ci.state, ci.lastStatusCode
        note("state", state=ci.stateText, code=ci.lastStatusCode)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802
        self.media_up = True


class Account(pj.Account):
    def __init__(self) -> None:
        super().__init__()
        self.reg_code = 0
        self.codes: list[int] = []
        self.incoming: list[Call] = []

    def onRegState(self, prm: pj.OnRegStateParam) -> None:  # noqa: N802
        self.reg_code = prm.code
        self.codes.append(prm.code)
        note("register", code=prm.code, expiration=prm.expiration)

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:  # noqa: N802
        call = Call(self, prm.callId)
        self.incoming.append(call)
        note("incoming", headers=_headers(prm.rdata.wholeMsg))
        op = pj.CallOpParam()
        op.statusCode = 180
        call.answer(op)


def _headers(msg: str) -> dict[str, str]:
    out = {}
    for line in msg.split("\r\n")[1:]:
        if not line:
            break
        name, _, value = line.partition(":")
        if name.lower().startswith("x-"):
            out[name.strip()] = value.strip()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--user", required=True, help="SIP user registered (agents.yml sip_user)")
    ap.add_argument("--registrar", required=True, help="address:port of Kamailio")
    ap.add_argument("--port", type=int, required=True, help="local SIP port (UDP)")
    ap.add_argument("--rtp-port", type=int, default=0)
    ap.add_argument("--expires", type=int, default=300, help="registration lifetime, s")
    ap.add_argument("--answer-after", type=float, default=0.5, help="ring this long, s")
    ap.add_argument("--no-answer", action="store_true", help="let it ring")
    ap.add_argument("--record", help="WAV file for what the agent hears")
    ap.add_argument("--play", help="WAV the agent 'says' from answering on (looped)")
    ap.add_argument("--digits", default="", help="digits pressed after answering (RFC 4733)")
    ap.add_argument("--digits-at", type=float, default=1.0, help="seconds after answering")
    ap.add_argument("--talk", type=float, default=8.0, help="hang up after this long, s")
    ap.add_argument("--duration", type=float, default=60.0, help="give up after, s")
    ap.add_argument("--unregister", action="store_true", help="REGISTER expires 0 at exit")
    ap.add_argument("--max-calls", type=int, default=1, help="stop after this many calls")
    ap.add_argument("--reregister-every", type=float, default=0.0, help="refresh REGISTER, s")
    ap.add_argument("--password", default="", help="digest password (agents.yml)")
    ap.add_argument("--auth-user", default="", help="digest user name (default: --user)")
    ap.add_argument("--dial", default="", help="call this URI once registered (a feature code)")
    ap.add_argument("--dial-at", type=float, default=0.5, help="seconds after the start")
    ap.add_argument("--ready", required=True, help="file touched once registered")
    ap.add_argument("--report", required=True, help="JSON report file")
    args = ap.parse_args()

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = 1
    cfg.logConfig.consoleLevel = 1
    cfg.medConfig.clockRate = 8000
    cfg.medConfig.sndClockRate = 8000
    cfg.medConfig.ecTailLen = 0
    ep.libInit(cfg)
    ep.audDevManager().setNullDev()
    tc = pj.TransportConfig()
    tc.port = args.port
    tc.boundAddress = "127.0.0.1"
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
    ep.libStart()
    ac = pj.AccountConfig()
    ac.idUri = f"sip:{args.user}@{args.registrar}"
    ac.regConfig.registrarUri = f"sip:{args.registrar}"
    ac.regConfig.timeoutSec = args.expires
    ac.natConfig.contactRewriteUse = 0
    ac.natConfig.viaRewriteUse = 0
    ac.natConfig.sdpNatRewriteUse = 0
    ac.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    if args.rtp_port:
        ac.mediaConfig.transportConfig.port = args.rtp_port
    if args.password:
        cred = pj.AuthCredInfo("digest", "*", args.auth_user or args.user, 0, args.password)
        ac.sipConfig.authCreds.append(cred)
    acc = Account()
    acc.create(ac)

    report: dict[str, Any] = {"registered": False, "calls": 0, "answered": 0, "rang": []}
    end = time.monotonic() + args.duration
    call: Call | None = None
    rang_at = answered_at = None
    recorder = player = None
    linked = False
    pressed = False
    done: list[Call] = []
    next_refresh = time.monotonic() + args.reregister_every if args.reregister_every else 0.0
    dial_at = time.monotonic() + args.dial_at if args.dial else 0.0
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))  # end now, with the report
    while time.monotonic() < end and not stopping:
        ep.libHandleEvents(10)
        now = time.monotonic()
        if acc.reg_code == 200 and not report["registered"]:
            report["registered"] = True
            Path(args.ready).touch()
        if next_refresh and now >= next_refresh and report["registered"]:
            next_refresh = now + args.reregister_every
            acc.setRegistration(True)  # a refresh REGISTER, as phones send before expiry
            note("refresh")
        if dial_at and now >= dial_at and report["registered"] and call is None:
            dial_at = 0.0
            call = Call(acc, pj.PJSUA_INVALID_ID)
            call.makeCall(args.dial, pj.CallOpParam(True))
            rang_at = answered_at = now  # our own call: "answered" once it is up
            report["dialled"] = args.dial
            note("dial", uri=args.dial)
        if call is None and acc.incoming:
            call, rang_at = acc.incoming.pop(0), now
            report["calls"] += 1
            report["rang"].append(round(now - T0, 3))
        if call is None:
            continue
        if call.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            report["last_code"] = call.code
            done.append(call)
            if recorder is not None:
                recorder = None
            call, player, linked, pressed, answered_at = None, None, False, False, None
            if report["calls"] >= args.max_calls and not args.dial:
                break
            if args.dial and "dialled" in report:
                break
            continue
        if answered_at is None and not args.no_answer and now - rang_at >= args.answer_after:
            answered_at = now
            op = pj.CallOpParam()
            op.statusCode = 200
            call.answer(op)
            report["answered"] += 1
        if answered_at and call.media_up and not linked:
            linked = True
            ci = call.getInfo()  # noqa: F841 - bind before reading media (pjsua2 pitfall)
            aud = call.getAudioMedia(-1)
            if args.record:
                recorder = pj.AudioMediaRecorder()
                recorder.createRecorder(args.record)
                aud.startTransmit(recorder)
            # a stream sends RTP events (DTMF) only when fed: the tone, or the null "mic"
            if args.play:
                player = pj.AudioMediaPlayer()
                player.createPlayer(args.play)
                player.startTransmit(aud)
            else:
                ep.audDevManager().getCaptureDevMedia().startTransmit(aud)
        if answered_at and not pressed and args.digits and now - answered_at >= args.digits_at:
            pressed = True
            if call.media_up:
                call.dialDtmf(args.digits)
                note("dtmf", digits=args.digits)
        if answered_at and now - answered_at >= args.talk:
            call.hangup(pj.CallOpParam(True))
            note("agent-hangup")
            answered_at = float("inf")
    if call is not None:
        report["last_code"] = call.code
        if call.state not in (0, pj.PJSIP_INV_STATE_DISCONNECTED):
            try:
                call.hangup(pj.CallOpParam(True))
            except pj.Error:
                pass
        stop = time.monotonic() + 2
        while time.monotonic() < stop and call.state != pj.PJSIP_INV_STATE_DISCONNECTED:
            ep.libHandleEvents(10)
    if args.unregister and acc.reg_code == 200:
        acc.setRegistration(False)
        stop = time.monotonic() + 1.5
        while time.monotonic() < stop:
            ep.libHandleEvents(10)
    report["events"] = events
    report["reg_codes"] = acc.codes
    recorder = player = call = None
    done.clear()
    acc.incoming.clear()
    gc.collect()
    acc.shutdown()
    ep.libDestroy()
    with open(args.report, "w") as f:
        json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
