"""A test caller: a real pjsua2 user agent in its own process (one Endpoint per process).

It calls ``--target``, plays a WAV file into the call, records what it hears, presses
digits (RFC 4733 or SIP INFO), accepts a REFER (blind transfer) like a phone would, and
writes a JSON report. Used by tests/sip and bench; run ``python tests/sip/caller.py -h``.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from typing import Any

import pjsua2 as pj

events: list[dict[str, Any]] = []


def note(kind: str, **data: Any) -> None:
    events.append({"t": round(time.monotonic() - T0, 3), "event": kind, **data})


T0 = time.monotonic()


class Call(pj.Call):
    def __init__(self, acc: pj.Account, name: str, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(acc, call_id)
        self.name = name
        self.state = 0
        self.code = 0
        self.media_up = False

    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802
        ci = self.getInfo()
        self.state, self.code = ci.state, ci.lastStatusCode
        note("state", call=self.name, state=ci.stateText, code=ci.lastStatusCode)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802
        self.media_up = True

    def onCallTransferRequest(self, prm: pj.OnCallTransferRequestParam) -> None:  # noqa: N802
        note("refer", call=self.name, to=prm.dstUri)
        if REFUSE_REFER:  # a phone or PBX that does not do blind transfer
            prm.statusCode = 405
            return
        new = Call(ACC, "transfer")
        CALLS.append(new)
        prm.newCall = new
        prm.statusCode = 202

    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:  # noqa: N802
        note("transfer-status", call=self.name, code=prm.statusCode, final=prm.finalNotify)


ACC: pj.Account
CALLS: list[Call] = []
REFUSE_REFER = False


def main() -> int:
    global ACC  # noqa: PLW0603
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--target", required=True, help="sip:bot@127.0.0.1:5060")
    ap.add_argument("--port", type=int, required=True, help="local SIP port (UDP)")
    ap.add_argument("--address", default="127.0.0.1", help="local SIP/RTP address")
    ap.add_argument("--rtp-port", type=int, default=0, help="first local RTP port")
    ap.add_argument("--play", help="WAV played into the call once connected")
    ap.add_argument("--record", help="WAV file for what the caller hears")
    ap.add_argument("--digits", default="", help="digits pressed (RFC 4733)")
    ap.add_argument("--info-digits", default="", help="digits sent as SIP INFO")
    ap.add_argument("--digits-at", type=float, default=2.0, help="seconds after connect")
    ap.add_argument("--duration", type=float, default=6.0, help="hang up after (s)")
    ap.add_argument("--report", required=True, help="JSON report file")
    ap.add_argument("--user", default="0687654321", help="caller number (From user)")
    ap.add_argument("--refuse-refer", action="store_true", help="answer REFER with 405")
    args = ap.parse_args()
    global REFUSE_REFER
    REFUSE_REFER = args.refuse_refer

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
    tc.boundAddress = args.address
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
    ep.libStart()
    ac = pj.AccountConfig()
    ac.idUri = f'"Test Caller" <sip:{args.user}@{args.address}:{args.port}>'
    ac.mediaConfig.transportConfig.boundAddress = args.address
    if args.rtp_port:
        ac.mediaConfig.transportConfig.port = args.rtp_port
    ACC = pj.Account()
    ACC.create(ac)

    call = Call(ACC, "bot")
    CALLS.append(call)
    op = pj.CallOpParam(True)
    call.makeCall(args.target, op)
    player = recorder = None
    connected_at = None
    aud = c = None
    pressed = False
    end = time.monotonic() + args.duration + 10
    report: dict[str, Any] = {
        "connected": False,
        "started_at": time.time() - (time.monotonic() - T0),
    }
    while time.monotonic() < end:
        ep.libHandleEvents(10)
        if call.state == pj.PJSIP_INV_STATE_DISCONNECTED and all(
            c.state in (0, pj.PJSIP_INV_STATE_DISCONNECTED) for c in CALLS
        ):
            break
        if connected_at is None and call.state == pj.PJSIP_INV_STATE_CONFIRMED and call.media_up:
            connected_at = time.monotonic()
            report["connected"] = True
            end = connected_at + args.duration
            aud = call.getAudioMedia(-1)
            if args.record:
                recorder = pj.AudioMediaRecorder()
                recorder.createRecorder(args.record)
                aud.startTransmit(recorder)
            if args.play:
                player = pj.AudioMediaPlayer()
                player.createPlayer(args.play, pj.PJMEDIA_FILE_NO_LOOP)
                player.startTransmit(aud)
            else:  # the "microphone" (null device): a stream sends RTP events only when fed
                ep.audDevManager().getCaptureDevMedia().startTransmit(aud)
        if connected_at and not pressed and time.monotonic() - connected_at > args.digits_at:
            pressed = True
            if args.digits:
                call.dialDtmf(args.digits)
                note("dtmf", digits=len(args.digits))
            for d in args.info_digits:
                prm = pj.CallSendDtmfParam()
                prm.method = pj.PJSUA_DTMF_METHOD_SIP_INFO
                prm.digits = d
                prm.duration = 160
                call.sendDtmf(prm)
                note("dtmf-info", digits=1)
    report["bot_call_code"] = call.code
    for c in CALLS:
        if c.state not in (0, pj.PJSIP_INV_STATE_DISCONNECTED):
            try:
                c.hangup(pj.CallOpParam(True))
            except pj.Error:
                pass
    stop = time.monotonic() + 2
    while time.monotonic() < stop and any(
        c.state not in (0, pj.PJSIP_INV_STATE_DISCONNECTED) for c in CALLS
    ):
        ep.libHandleEvents(10)
    report["events"] = events
    # Every pjsua2 object must be gone before libDestroy (else pjsua asserts at exit).
    player = recorder = aud = c = call = None  # noqa: F841
    CALLS.clear()
    gc.collect()
    ACC.shutdown()
    ep.libDestroy()
    with open(args.report, "w") as f:
        json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
