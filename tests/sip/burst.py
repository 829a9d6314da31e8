"""Bursts of INVITEs from one bare UDP socket, to measure admission control under a race.

:func:`burst` sends ``calls`` INVITEs back to back (all within about a millisecond, far
closer than SIPp's pacing), retransmits the unanswered ones every 500 ms, ACKs every final
answer (a 2xx through the proxy's Record-Route), notes which worker answered each 200
(its Contact ``address:port``), holds the answered calls ``hold_s`` and hangs them up (BYE,
and a 200 to any BYE from the bot). :class:`Burst` holds the result: how many were answered
on each host, refused with ``503 Host Full``, or got another answer.

Run as a script (``python tests/sip/burst.py --target 10.0.0.1:5060 --bind 10.0.0.9
--calls 3 --bursts 30``) it prints one JSON line per burst; the two-host benchmark runs it
that way inside the caller's network namespace. Real SIP only; no fakes. Loopback or a
namespace the caller created only.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

PCMA, EVENT = 8, 101
T1_S = 0.5


def _header(head: str, name: str) -> str:
    for line in head.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return ""


@dataclass
class _Call:
    call_id: str
    tag: str
    branch: str
    status: int = 0
    reason: str = ""
    to_tag: str = ""
    contact: str = ""
    route: list[str] = field(default_factory=list)
    answered_by: str = ""
    """``address:port`` of the worker that answered 200 (from its Contact)."""
    bye_status: int = 0


@dataclass
class Burst:
    """What one burst got: answers by worker host, refusals, other final answers."""

    calls: int
    spread_ms: float
    """Time from the first INVITE sent to the last (ms)."""
    answered: dict[str, int]
    """200 answers per worker host address."""
    refused: int
    """``503 Host Full`` answers (admission control)."""
    other: dict[str, int]
    """Every other final status (or 0: no answer), counted."""
    byes_ok: int
    """Answered calls whose BYE got 200."""

    @property
    def total_answered(self) -> int:
        return sum(self.answered.values())


class BurstCaller:
    """One UDP socket on ``bind`` calling ``target`` (``host``, ``port``)."""

    def __init__(self, target: tuple[str, int], bind: str = "127.0.0.1") -> None:
        self.target = target
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind((bind, 0))
        self.sip.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound so RTP has a home
        self.rtp.bind((bind, 0))
        self.host, self.port = self.sip.getsockname()
        self.rtp_port = int(self.rtp.getsockname()[1])

    def close(self) -> None:
        self.sip.close()
        self.rtp.close()

    def _common(self, call: _Call, cseq: str, to_tag: bool) -> str:
        ttag = f";tag={call.to_tag}" if to_tag and call.to_tag else ""
        return (
            f"From: <sip:0611111111@{self.host}:{self.port}>;tag={call.tag}\r\n"
            f"To: <sip:bot@{self.target[0]}:{self.target[1]}>{ttag}\r\n"
            f"Call-ID: {call.call_id}\r\nCSeq: {cseq}\r\n"
            f"Contact: <sip:0611111111@{self.host}:{self.port}>\r\nMax-Forwards: 70\r\n"
        )

    def _invite(self, call: _Call) -> bytes:
        sdp = (
            f"v=0\r\no=burst 1 1 IN IP4 {self.host}\r\ns=-\r\nc=IN IP4 {self.host}\r\nt=0 0\r\n"
            f"m=audio {self.rtp_port} RTP/AVP {PCMA} {EVENT}\r\na=rtpmap:{PCMA} PCMA/8000\r\n"
            f"a=rtpmap:{EVENT} telephone-event/8000\r\na=fmtp:{EVENT} 0-15\r\na=sendrecv\r\n"
        )
        return (
            f"INVITE sip:bot@{self.target[0]}:{self.target[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {self.host}:{self.port};branch={call.branch};rport\r\n"
            + self._common(call, "1 INVITE", False)
            + f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}"
        ).encode()

    def _in_dialog(self, call: _Call, method: str, cseq: str, branch: str) -> bytes:
        uri = call.contact or f"sip:bot@{self.target[0]}:{self.target[1]}"
        routes = "".join(f"Route: {r}\r\n" for r in call.route)
        return (
            f"{method} {uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {self.host}:{self.port};branch={branch};rport\r\n{routes}"
            + self._common(call, cseq, True)
            + "Content-Length: 0\r\n\r\n"
        ).encode()

    def _ack_failure(self, call: _Call) -> bytes:
        """The ACK of a non-2xx final answer (same branch as the INVITE, hop by hop)."""
        return (
            f"ACK sip:bot@{self.target[0]}:{self.target[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {self.host}:{self.port};branch={call.branch};rport\r\n"
            + self._common(call, "1 ACK", True)
            + "Content-Length: 0\r\n\r\n"
        ).encode()

    def _take_dialog(self, call: _Call, head: str) -> None:
        m = re.search(r";tag=([^;>\s]+)", _header(head, "To"))
        call.to_tag = m.group(1) if m else ""
        rr = [
            v
            for line in head.split("\r\n")
            if line.lower().startswith("record-route:")
            for v in line.split(":", 1)[1].split(",")
        ]
        call.route = [v.strip() for v in reversed(rr)]
        m = re.search(r"<([^>]+)>", _header(head, "Contact")) or re.search(
            r"(sip:\S+)", _header(head, "Contact")
        )
        call.contact = m.group(1) if m else ""
        hp = re.search(r"@?([\d.]+):(\d+)", call.contact)
        call.answered_by = f"{hp.group(1)}:{hp.group(2)}" if hp else "?"

    def _answer_bye(self, text: str, src: tuple[str, int]) -> None:
        head = text.split("\r\n\r\n", 1)[0]
        reply = "SIP/2.0 200 OK\r\n" + "".join(
            f"{line}\r\n"
            for line in head.split("\r\n")[1:]
            if line.split(":", 1)[0].strip().lower()
            in ("via", "v", "from", "f", "to", "t", "call-id", "i", "cseq", "record-route")
        )
        self.sip.sendto((reply + "Content-Length: 0\r\n\r\n").encode(), src)

    def _receive(self, calls: dict[str, _Call], until: float, done: Callable[[], bool]) -> None:
        """Read messages until ``done()`` or ``until`` (monotonic s)."""
        while time.monotonic() < until and not done():
            self.sip.settimeout(max(0.01, min(T1_S, until - time.monotonic())))
            try:
                data, src = self.sip.recvfrom(65535)
            except (TimeoutError, OSError):
                return
            text = data.decode("latin-1")
            head = text.split("\r\n\r\n", 1)[0]
            call = calls.get(_header(head, "Call-ID"))
            if call is None:
                continue
            if text.startswith("BYE "):
                self._answer_bye(text, src)
                continue
            m = re.match(r"SIP/2\.0 (\d{3}) ?(.*)", head)
            if not m:
                continue
            code, cseq = int(m.group(1)), _header(head, "CSeq")
            if cseq.endswith("BYE"):
                call.bye_status = max(call.bye_status, code)
                continue
            if code < 200:
                call.status = max(call.status, code)
                continue
            first = call.status < 200
            if first:
                call.status, call.reason = code, m.group(2).strip()
            if 200 <= code < 300:
                if first:
                    self._take_dialog(call, head)
                ack = f"z9hG4bK{uuid.uuid4().hex[:12]}"
                self.sip.sendto(self._in_dialog(call, "ACK", "1 ACK", ack), self.target)
            else:
                self.sip.sendto(self._ack_failure(call), self.target)

    def burst(self, calls: int, hold_s: float = 0.3, timeout_s: float = 20.0) -> Burst:
        """Offer ``calls`` INVITEs at once; the outcome once every answered call is hung up."""
        offered = {
            c.call_id: c
            for c in (
                _Call(
                    f"burst-{uuid.uuid4().hex[:16]}@{self.host}",
                    uuid.uuid4().hex[:8],
                    f"z9hG4bK{uuid.uuid4().hex[:12]}",
                )
                for _ in range(calls)
            )
        }
        invites = {cid: self._invite(c) for cid, c in offered.items()}
        t0 = time.perf_counter()
        for msg in invites.values():
            self.sip.sendto(msg, self.target)
        spread_ms = (time.perf_counter() - t0) * 1000.0
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            pending = [c for c in offered.values() if c.status < 200]
            if not pending:
                break
            self._receive(offered, min(end, time.monotonic() + T1_S), lambda: False)
            for c in (c for c in offered.values() if c.status < 100):
                self.sip.sendto(invites[c.call_id], self.target)
        answered = [c for c in offered.values() if 200 <= c.status < 300]
        self._receive(offered, time.monotonic() + hold_s, lambda: False)
        byes = {c.call_id: f"z9hG4bK{uuid.uuid4().hex[:12]}" for c in answered}
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            waiting = [c for c in answered if c.bye_status < 200]
            if not waiting:
                break
            for c in waiting:
                self.sip.sendto(self._in_dialog(c, "BYE", "2 BYE", byes[c.call_id]), self.target)
            self._receive(
                offered,
                time.monotonic() + T1_S,
                lambda: all(c.bye_status >= 200 for c in answered),
            )
        per_host: dict[str, int] = {}
        for c in answered:
            host = c.answered_by.rsplit(":", 1)[0]
            per_host[host] = per_host.get(host, 0) + 1
        other: dict[str, int] = {}
        for c in offered.values():
            if not (200 <= c.status < 300) and not (c.status == 503 and c.reason == "Host Full"):
                other[str(c.status)] = other.get(str(c.status), 0) + 1
        refused = sum(1 for c in offered.values() if c.status == 503 and c.reason == "Host Full")
        return Burst(
            calls,
            round(spread_ms, 3),
            per_host,
            refused,
            other,
            sum(1 for c in answered if 200 <= c.bye_status < 300),
        )


def profile_sizes(ctl: str, hosts: list[str]) -> dict[str, int]:
    """Calls Kamailio (RPC socket ``ctl``, e.g. ``unix:/path/ctl.sock``) counts per host
    in the dialog profile ``host``; -1 for a host it did not answer about."""
    kamcmd = shutil.which("kamcmd") or "/usr/sbin/kamcmd"
    out: dict[str, int] = {}
    for host in hosts:
        run = subprocess.run(
            [kamcmd, "-s", ctl, "dlg.profile_get_size", "host", f"s:{host}"],
            capture_output=True, text=True, timeout=10,
        )  # fmt: skip
        words = run.stdout.split()
        out[host] = int(words[-1]) if run.returncode == 0 and words and words[-1].isdigit() else -1
    return out


def wait_free(ctl: str, hosts: list[str], timeout_s: float = 15.0) -> dict[str, int]:
    """Wait until Kamailio counts no call on ``hosts``; the last counts read."""
    end = time.monotonic() + timeout_s
    sizes = profile_sizes(ctl, hosts)
    while any(sizes.values()) and time.monotonic() < end:
        time.sleep(0.1)
        sizes = profile_sizes(ctl, hosts)
    return sizes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", required=True, help="proxy address:port")
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--calls", type=int, default=3)
    p.add_argument("--bursts", type=int, default=1)
    p.add_argument("--hold-s", type=float, default=0.3)
    p.add_argument("--ctl", default="", help="Kamailio RPC socket: wait for free places")
    p.add_argument("--hosts", default="", help="host addresses counted (with --ctl)")
    a = p.parse_args()
    host, port = a.target.rsplit(":", 1)
    caller = BurstCaller((host, int(port)), a.bind)
    hosts = [h for h in a.hosts.split(",") if h]
    try:
        for _ in range(a.bursts):
            t0 = time.monotonic()
            before = wait_free(a.ctl, hosts) if a.ctl else {}
            waited = round(time.monotonic() - t0, 3)
            b = caller.burst(a.calls, a.hold_s)
            print(
                json.dumps({**asdict(b), "counted_before": before, "free_wait_s": waited}),
                flush=True,
            )
    finally:
        caller.close()


if __name__ == "__main__":
    main()
