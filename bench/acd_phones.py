#!/usr/bin/env python3
"""Agents' phones or callers for bench/acd_sip.py: up to 4 real pjsua2 user agents in one
process (the pjsua2 wheel takes 4 calls per process), driven by a JSON plan.

``agents`` mode: each user registers ``sip:<user>@<registrar>`` (SIP REGISTER, like a desk
phone) and takes the calls it gets one after another: it rings, then answers after the
planned 2-6 s (or lets it ring out, for the offers the plan marks), hears the whisper and the
caller, and hangs up after the planned talk time.

``callers`` mode: each caller calls the bot at its planned second, presses ``1`` (the keypad
menu's billing) 1.5 s after the call is set up, and waits in the queue; when its patience is
over it hangs up unless an agent has taken the call by then (read from the agent board the
bot writes, via the records' SIP Call-ID -> call ID), else it stays until the agent hangs up.

Writes a JSON report of every call's events (monotonic and wall times) to ``--report``.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import pjsua2 as pj

EVENTS: list[dict[str, Any]] = []


def note(kind: str, **data: Any) -> None:
    EVENTS.append({"wall": round(time.time(), 3), "event": kind, **data})


class Call(pj.Call):
    def __init__(self, acc: pj.Account, who: str, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(acc, call_id)
        self.who = who
        self.state = 0
        self.code = 0
        self.media_up = False

    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802
        ci = self.getInfo()
        self.state, self.code = ci.state, ci.lastStatusCode
        note("state", who=self.who, state=ci.stateText, code=ci.lastStatusCode)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802
        self.media_up = True


class Account(pj.Account):
    def __init__(self, who: str) -> None:
        super().__init__()
        self.who = who
        self.reg_code = 0
        self.incoming: list[tuple[Call, str]] = []

    def onRegState(self, prm: pj.OnRegStateParam) -> None:  # noqa: N802
        self.reg_code = prm.code
        note("register", who=self.who, code=prm.code)

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:  # noqa: N802
        call = Call(self, self.who, prm.callId)
        ref = ""
        for line in prm.rdata.wholeMsg.split("\r\n"):
            if line.lower().startswith("x-voicebot-call-id:"):
                ref = line.split(":", 1)[1].strip()
        self.incoming.append((call, ref))
        note("incoming", who=self.who, ref=ref)
        op = pj.CallOpParam()
        op.statusCode = 180
        call.answer(op)


def endpoint(sip_port: int, rtp_port: int) -> pj.Endpoint:
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.uaConfig.maxCalls = 4
    cfg.logConfig.level = 1
    cfg.logConfig.consoleLevel = 1
    cfg.medConfig.clockRate = 8000
    cfg.medConfig.sndClockRate = 8000
    cfg.medConfig.ecTailLen = 0
    cfg.medConfig.noVad = True
    ep.libInit(cfg)
    ep.audDevManager().setNullDev()
    tc = pj.TransportConfig()
    tc.port = sip_port
    tc.boundAddress = "127.0.0.1"
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
    ep.libStart()
    ep.rtp_port = rtp_port  # type: ignore[attr-defined]
    return ep


def account_config(ep: pj.Endpoint, user: str, registrar: str, register: bool) -> pj.AccountConfig:
    ac = pj.AccountConfig()
    ac.idUri = f"sip:{user}@{registrar}"
    if register:
        ac.regConfig.registrarUri = f"sip:{registrar}"
        ac.regConfig.timeoutSec = 600
    else:
        ac.regConfig.registerOnAdd = False
    ac.natConfig.contactRewriteUse = 0
    ac.natConfig.viaRewriteUse = 0
    ac.natConfig.sdpNatRewriteUse = 0
    ac.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    ac.mediaConfig.transportConfig.port = ep.rtp_port  # type: ignore[attr-defined]
    ac.mediaConfig.transportConfig.portRange = 40
    return ac


def hang_up(call: Call) -> None:
    try:
        call.hangup(pj.CallOpParam(True))
    except pj.Error:
        pass


def run_agents(ep: pj.Endpoint, args: argparse.Namespace, plan: dict[str, Any]) -> None:
    rng = random.Random(plan["seed"])
    accounts: dict[str, Account] = {}
    for user in plan["users"]:
        acc = Account(user)
        acc.create(account_config(ep, user, args.registrar, register=True))
        accounts[user] = acc
    # per agent: the call in hand, when it rang, when to answer (None: let it ring out)
    current: dict[str, dict[str, Any]] = {}
    end = time.monotonic() + plan["duration_s"]
    while time.monotonic() < end and not Path(plan["stop_file"]).exists():
        ep.libHandleEvents(10)
        now = time.monotonic()
        for user, acc in accounts.items():
            c = current.get(user)
            if c is None and acc.incoming:
                call, ref = acc.incoming.pop(0)
                ring_out = rng.random() < plan["ring_out"]
                answer_after = rng.uniform(*plan["answer_s"])
                c = current[user] = {
                    "call": call,
                    "ref": ref,
                    "rang": now,
                    "answer_at": None if ring_out else now + answer_after,
                    "talk_s": rng.uniform(*plan["talk_s"]),
                    "answered": None,
                    "linked": False,
                }
                note("ringing", who=user, ref=ref, ring_out=ring_out)
            if c is None:
                continue
            call = c["call"]
            if call.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                note("ended", who=user, ref=c["ref"], code=call.code, answered=c["answered"])
                del current[user]
                continue
            if c["answered"] is None and c["answer_at"] is not None and now >= c["answer_at"]:
                op = pj.CallOpParam()
                op.statusCode = 200
                call.answer(op)
                c["answered"] = now
                note("answered", who=user, ref=c["ref"])
            if c["answered"] is not None and call.media_up and not c["linked"]:
                c["linked"] = True
                call.getInfo()
                # the agent's "voice": the null device (silence) keeps RTP flowing
                ep.audDevManager().getCaptureDevMedia().startTransmit(call.getAudioMedia(-1))
            if c["answered"] is not None and now - c["answered"] >= c["talk_s"]:
                if call.state == pj.PJSIP_INV_STATE_CONFIRMED:
                    hang_up(call)
                    note("agent-hangup", who=user, ref=c["ref"])
                    c["answered"] = float("inf")
        # a second INVITE while busy (should not happen: the board rings free agents)
        for user, acc in accounts.items():
            while user in current and acc.incoming:
                extra, ref = acc.incoming.pop(0)
                note("busy-reject", who=user, ref=ref)
                op = pj.CallOpParam()
                op.statusCode = 486
                extra.answer(op)
    for c in current.values():
        hang_up(c["call"])
    for acc in accounts.values():
        acc.setRegistration(False)
    stop = time.monotonic() + 1.5
    while time.monotonic() < stop:
        ep.libHandleEvents(10)
    current.clear()
    for acc in accounts.values():
        acc.incoming.clear()
        acc.shutdown()


def answered_on_board(plan: dict[str, Any], sip_call_id: str) -> bool:
    """Whether the bot's agent board says an agent took this call (harness knowledge a
    real caller has from hearing a person). The worker logs which call ID (the board's
    call reference) a SIP Call-ID got."""
    ref = None
    needle = f"SIP Call-ID '{sip_call_id}'"
    for log in sorted(Path(plan["sip_logs"]).glob("worker-*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if needle in line:
                ref = line.split(": call ", 1)[1].split(",", 1)[0]
    if ref is None:
        note("no-call-ref", sip_call_id=sip_call_id)
        return False
    try:
        with sqlite3.connect(plan["board"], timeout=2) as board:
            got = board.execute("SELECT state FROM queue WHERE call_ref = ?", (ref,)).fetchone()
        return got is not None and got[0] == "answered"
    except sqlite3.Error:
        return False


def run_callers(ep: pj.Endpoint, args: argparse.Namespace, plan: dict[str, Any]) -> None:
    todo = sorted(plan["callers"], key=lambda c: c["at"])
    start = plan["start_wall"]
    live: list[dict[str, Any]] = []
    accounts = []
    end = time.monotonic() + plan["duration_s"]
    while time.monotonic() < end and (todo or live):
        ep.libHandleEvents(10)
        now = time.monotonic()
        while todo and time.time() - start >= todo[0]["at"]:
            c = todo.pop(0)
            acc = Account(c["user"])
            acc.create(account_config(ep, c["user"], args.registrar, register=False))
            accounts.append(acc)
            call = Call(acc, c["user"])
            prm = pj.CallOpParam(True)
            call.makeCall(plan["target"], prm)
            c.update(call=call, started=now, connected=None, pressed=None, linked=False)
            note("call", who=c["user"], planned_at=c["at"])
            live.append(c)
        for c in list(live):
            call = c["call"]
            if call.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                note("ended", who=c["user"], code=call.code, by=c.get("by", "far end"))
                live.remove(c)
                continue
            if c["connected"] is None and call.state == pj.PJSIP_INV_STATE_CONFIRMED:
                c["connected"] = now
                c["sip_call_id"] = call.getInfo().callIdString
                note("connected", who=c["user"], sip_call_id=c["sip_call_id"])
            if c["connected"] is not None and call.media_up and not c["linked"]:
                c["linked"] = True
                call.getInfo()
                ep.audDevManager().getCaptureDevMedia().startTransmit(call.getAudioMedia(-1))
            if c["pressed"] is None and c["linked"] and now - c["connected"] >= 1.5:
                call.dialDtmf("1")
                c["pressed"] = now
                note("pressed", who=c["user"], key="1")
            patience_over = c["pressed"] is not None and now - c["pressed"] >= c["patience_s"]
            if patience_over and not c.get("checked"):
                c["checked"] = True
                if not answered_on_board(plan, c.get("sip_call_id", "")):
                    c["by"] = "caller (patience over)"
                    note("abandon", who=c["user"])
                    hang_up(call)
            if now - c["started"] > plan["max_call_s"] and not c.get("cut"):
                c["cut"] = True
                c["by"] = "caller (bench limit)"
                note("cut", who=c["user"])
                hang_up(call)
    for c in live:
        hang_up(c["call"])
    stop = time.monotonic() + 1.5
    while time.monotonic() < stop:
        ep.libHandleEvents(10)
    live.clear()
    for acc in accounts:
        acc.shutdown()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("mode", choices=["agents", "callers"])
    ap.add_argument("--plan", required=True, help="JSON plan written by bench/acd_sip.py")
    ap.add_argument("--registrar", required=True, help="address:port of Kamailio")
    ap.add_argument("--port", type=int, required=True, help="local SIP port (UDP)")
    ap.add_argument("--rtp-port", type=int, required=True, help="first of 40 RTP ports")
    ap.add_argument("--report", required=True)
    args = ap.parse_args()
    plan = json.loads(Path(args.plan).read_text())
    ep = endpoint(args.port, args.rtp_port)
    try:
        if args.mode == "agents":
            run_agents(ep, args, plan)
        else:
            run_callers(ep, args, plan)
    finally:
        gc.collect()
        Path(args.report).write_text(json.dumps({"events": EVENTS}, indent=0))
        ep.libDestroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
