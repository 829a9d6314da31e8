"""A bare-socket SIP caller that owns its RTP socket, to send the bot hostile RTP.

:class:`RawCall` sends an INVITE over UDP (offering PCMA and telephone-event from its own
RTP socket), ACKs the 200 (following the Record-Route of a proxy), then sends whatever RTP
the test asks for: A-law speech, RFC 4733 digits, or garbage (:func:`garbage_phases`).
It counts the RTP the bot sends back and answers the bot's BYE with 200. Loopback only.
"""

from __future__ import annotations

import random
import re
import socket
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

HOST = "127.0.0.1"
PCMA, EVENT = 8, 101
FRAME = 160  # samples (and A-law bytes) per 20 ms


def rtp_packet(
    pt: int, seq: int, ts: int, ssrc: int, payload: bytes, marker: bool = False
) -> bytes:
    return (
        struct.pack(
            "!BBHII",
            0x80,
            (0x80 if marker else 0) | (pt & 0x7F),
            seq & 0xFFFF,
            ts & 0xFFFFFFFF,
            ssrc,
        )
        + payload
    )


@dataclass
class RawCall:
    """One call from bare sockets to ``target`` (host, port)."""

    target: tuple[str, int]
    sip_port: int
    rtp_port: int
    call_id: str = field(default_factory=lambda: f"raw-{uuid.uuid4().hex[:12]}@{HOST}")
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    remote_rtp: tuple[str, int] | None = None
    to_tag: str = ""
    route: list[str] = field(default_factory=list)
    contact: str = ""
    status: int = 0
    bye_at: float | None = None
    rtp_in: int = 0
    seq: int = 1000
    ts: int = 0
    ssrc: int = 0x1234ABCD
    responses: list[tuple[int, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind((HOST, self.sip_port))
        self.sip.settimeout(0.1)
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind((HOST, self.rtp_port))
        self.rtp.settimeout(0.1)
        self._halt = threading.Event()
        self._threads = [
            threading.Thread(target=self._sip_loop, daemon=True),
            threading.Thread(target=self._rtp_loop, daemon=True),
        ]
        self._answered = threading.Event()
        self._pending_200: bytes | None = None

    # ---------------------------------------------------------------- signalling

    def _via(self) -> str:
        return (
            f"Via: SIP/2.0/UDP {HOST}:{self.sip_port};branch=z9hG4bK{uuid.uuid4().hex[:12]};rport"
        )

    def _common(self, cseq: str, to_tag: bool) -> str:
        ttag = f";tag={self.to_tag}" if to_tag and self.to_tag else ""
        return (
            f'From: "Raw Caller" <sip:0611111111@{HOST}:{self.sip_port}>;tag={self.tag}\r\n'
            f"To: <sip:bot@{self.target[0]}:{self.target[1]}>{ttag}\r\n"
            f"Call-ID: {self.call_id}\r\nCSeq: {cseq}\r\n"
            f"Contact: <sip:0611111111@{HOST}:{self.sip_port}>\r\nMax-Forwards: 70\r\n"
        )

    def invite(self, timeout_s: float = 10.0) -> int:
        """Send the INVITE (retransmitted), wait for a final answer; ACK a 2xx. The status."""
        for t in self._threads:
            t.start()
        sdp = (
            f"v=0\r\no=raw 1 1 IN IP4 {HOST}\r\ns=-\r\nc=IN IP4 {HOST}\r\nt=0 0\r\n"
            f"m=audio {self.rtp_port} RTP/AVP {PCMA} {EVENT}\r\na=rtpmap:{PCMA} PCMA/8000\r\n"
            f"a=rtpmap:{EVENT} telephone-event/8000\r\na=fmtp:{EVENT} 0-15\r\na=sendrecv\r\n"
        )
        self._invite = (
            f"INVITE sip:bot@{self.target[0]}:{self.target[1]} SIP/2.0\r\n{self._via()}\r\n"
            + self._common("1 INVITE", False)
            + f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}"
        ).encode()
        end = time.monotonic() + timeout_s
        while not self._answered.is_set() and time.monotonic() < end:
            if self.status < 100:
                self.sip.sendto(self._invite, self.target)
            self._answered.wait(0.5)
        return self.status

    def _ack(self) -> None:
        uri = self.contact or f"sip:bot@{self.target[0]}:{self.target[1]}"
        routes = "".join(f"Route: {r}\r\n" for r in self.route)
        msg = (
            f"ACK {uri} SIP/2.0\r\n{self._via()}\r\n{routes}"
            + self._common("1 ACK", True)
            + "Content-Length: 0\r\n\r\n"
        )
        self.sip.sendto(msg.encode(), self.target)

    def _sip_loop(self) -> None:
        while not self._halt.is_set():
            try:
                data, src = self.sip.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            text = data.decode("latin-1")
            head = text.split("\r\n\r\n", 1)[0]
            m = re.match(r"SIP/2\.0 (\d{3})", text)
            if m:
                code = int(m.group(1))
                if "INVITE" not in _header(head, "CSeq"):
                    self.responses.append((code, _header(head, "CSeq")))
                    continue
                self.status = max(self.status, code) if code >= 200 else code
                if code >= 200:
                    if 200 <= code < 300:
                        self._take_dialog(text, head)
                        self._ack()
                    self._answered.set()
            elif text.startswith("BYE "):
                if self.bye_at is None:
                    self.bye_at = time.monotonic()
                reply = "SIP/2.0 200 OK\r\n" + "".join(
                    f"{line}\r\n"
                    for line in head.split("\r\n")[1:]
                    if line.split(":", 1)[0].strip().lower()
                    in ("via", "v", "from", "f", "to", "t", "call-id", "i", "cseq")
                )
                self.sip.sendto((reply + "Content-Length: 0\r\n\r\n").encode(), src)

    def _take_dialog(self, text: str, head: str) -> None:
        to = _header(head, "To")
        m = re.search(r";tag=([^;>\s]+)", to)
        self.to_tag = m.group(1) if m else ""
        rr = [
            v
            for line in head.split("\r\n")
            if line.lower().startswith("record-route:")
            for v in line.split(":", 1)[1].split(",")
        ]
        self.route = [v.strip() for v in reversed(rr)]
        m = re.search(r"<([^>]+)>", _header(head, "Contact"))
        self.contact = m.group(1) if m else ""
        body = text.split("\r\n\r\n", 1)[1] if "\r\n\r\n" in text else ""
        c = re.search(r"c=IN IP4 (\S+)", body)
        p = re.search(r"m=audio (\d+)", body)
        if c and p:
            self.remote_rtp = (c.group(1), int(p.group(1)))

    def hangup(self) -> None:
        uri = self.contact or f"sip:bot@{self.target[0]}:{self.target[1]}"
        routes = "".join(f"Route: {r}\r\n" for r in self.route)
        msg = f"BYE {uri} SIP/2.0\r\n{self._via()}\r\n{routes}" + self._common("2 BYE", True)
        self.sip.sendto((msg + "Content-Length: 0\r\n\r\n").encode(), self.target)

    def request(
        self,
        method: str,
        body: bytes = b"",
        ctype: str = "",
        cseq: int = 2,
        to_tag: str | None = None,
    ) -> None:
        """An in-dialog request (through the route set), e.g. INFO with a hostile body."""
        uri = self.contact or f"sip:bot@{self.target[0]}:{self.target[1]}"
        routes = "".join(f"Route: {r}\r\n" for r in self.route)
        saved = self.to_tag
        if to_tag is not None:
            self.to_tag = to_tag
        head = f"{method} {uri} SIP/2.0\r\n{self._via()}\r\n{routes}" + self._common(
            f"{cseq} {method}", True
        )
        self.to_tag = saved
        if ctype:
            head += f"Content-Type: {ctype}\r\n"
        msg = head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
        self.sip.sendto(msg, self.target)

    def wait_bye(self, timeout_s: float) -> bool:
        end = time.monotonic() + timeout_s
        while self.bye_at is None and time.monotonic() < end:
            time.sleep(0.05)
        return self.bye_at is not None

    def close(self) -> None:
        self._halt.set()
        for t in self._threads:
            if t.is_alive():
                t.join(1.0)
        self.sip.close()
        self.rtp.close()

    # ---------------------------------------------------------------- media

    def _rtp_loop(self) -> None:
        while not self._halt.is_set():
            try:
                self.rtp.recv(4096)
                self.rtp_in += 1
            except (TimeoutError, OSError):
                continue

    def send_raw(self, packet: bytes, to: tuple[str, int] | None = None) -> None:
        dest = to or self.remote_rtp
        assert dest is not None, "no media address: call not answered"
        try:
            self.rtp.sendto(packet, dest)
        except OSError:
            pass

    def send_audio(self, alaw: bytes, paced: bool = True) -> None:
        """A-law speech in 20 ms packets, paced in real time."""
        start = time.monotonic()
        for n, i in enumerate(range(0, len(alaw) - FRAME + 1, FRAME)):
            self.seq += 1
            self.ts += FRAME
            self.send_raw(rtp_packet(PCMA, self.seq, self.ts, self.ssrc, alaw[i : i + FRAME]))
            if paced:
                delay = start + (n + 1) * 0.02 - time.monotonic()
                if delay > 0:
                    time.sleep(delay)

    def send_digit(self, event: int, duration_ms: int = 160) -> None:
        """One RFC 4733 event (0-9, 10 = *, 11 = #): updates every 20 ms, three end packets."""
        self.seq += 1
        self.ts += FRAME
        start_ts = self.ts
        steps = duration_ms // 20
        for k in range(1, steps + 1):
            end = k == steps
            payload = struct.pack("!BBH", event, (0x80 if end else 0) | 10, k * FRAME)
            for _ in range(3 if end else 1):
                self.send_raw(rtp_packet(EVENT, self.seq, start_ts, self.ssrc, payload, k == 1))
                self.seq += 1
            time.sleep(0.02)
        self.ts += duration_ms * 8


def _header(head: str, name: str) -> str:
    short = {"to": "t", "from": "f", "contact": "m", "cseq": "cseq", "call-id": "i", "via": "v"}
    for line in head.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() in (name.lower(), short.get(name.lower(), name.lower())):
            return value.strip()
    return ""


def garbage_phases(
    call: RawCall, rng: random.Random, scale: float = 1.0
) -> Iterator[tuple[str, int]]:
    """Send each kind of hostile RTP in turn; yields (phase, packets sent) after each.

    Payload types never include the negotiated telephone-event (101): a random payload
    there could be a real keypress. RTCP garbage goes to the RTP port + 1.
    """
    assert call.remote_rtp is not None
    host, port = call.remote_rtp
    bad_pts = [0, 3, 9, 13, 18, 34, 96, 100, 102, 126, 127]

    def n(k: int) -> int:
        return max(1, int(k * scale))

    sent = 0
    for _ in range(n(300)):  # random payloads of PCMA packets, right PT
        call.seq += 1
        call.ts += FRAME
        call.send_raw(
            rtp_packet(PCMA, call.seq, call.ts, call.ssrc, rng.randbytes(rng.randint(0, 400)))
        )
        sent += 1
        if sent % 20 == 0:
            time.sleep(0.02)
    yield "random_payloads", sent
    sent = 0
    for _ in range(n(300)):  # wrong payload types
        call.seq += 1
        call.ts += FRAME
        call.send_raw(
            rtp_packet(rng.choice(bad_pts), call.seq, call.ts, call.ssrc, rng.randbytes(FRAME))
        )
        sent += 1
        if sent % 20 == 0:
            time.sleep(0.02)
    yield "wrong_payload_types", sent
    sent = 0
    for _ in range(n(200)):  # a new SSRC (and sequence, timestamp) every few packets
        if sent % 5 == 0:
            call.ssrc, call.seq, call.ts = (
                rng.getrandbits(32),
                rng.getrandbits(16),
                rng.getrandbits(32),
            )
        call.seq += 1
        call.ts += FRAME
        call.send_raw(rtp_packet(PCMA, call.seq, call.ts, call.ssrc, rng.randbytes(FRAME)))
        sent += 1
        time.sleep(0.005)
    yield "ssrc_changes", sent
    sent = 0
    for _ in range(3):  # bursts of 1000 packets at once, sequence jumps between
        call.seq += rng.randint(1000, 30000)
        for _ in range(n(1000)):
            call.seq += 1
            call.ts += FRAME
            call.send_raw(rtp_packet(PCMA, call.seq, call.ts, call.ssrc, rng.randbytes(FRAME)))
            sent += 1
        time.sleep(0.2)
    yield "bursts", sent
    sent = 0
    for _ in range(n(100)):  # oversized packets, 1500 bytes to a full datagram
        size = rng.choice([1500, 2000, 9000, 65000])
        call.seq += 1
        call.ts += FRAME
        call.send_raw(rtp_packet(PCMA, call.seq, call.ts, call.ssrc, rng.randbytes(size - 12)))
        sent += 1
        if sent % 10 == 0:
            time.sleep(0.02)
    yield "oversized", sent
    sent = 0
    for _ in range(n(300)):  # not RTP at all: short, wrong version, padding and CSRC lies
        kind = rng.randrange(5)
        if kind == 0:
            pkt = rng.randbytes(rng.randint(0, 11))
        elif kind == 1:
            pkt = bytes([rng.choice([0x00, 0x40, 0xC0])]) + rng.randbytes(171)
        elif kind == 2:  # padding bit with a pad length past the end
            pkt = bytearray(rtp_packet(PCMA, call.seq, call.ts, call.ssrc, rng.randbytes(FRAME)))
            pkt[0] |= 0x20
            pkt[-1] = 255
            pkt = bytes(pkt)
        elif kind == 3:  # 15 CSRCs announced, none there
            pkt = bytes([0x8F, PCMA]) + struct.pack(
                "!HII", call.seq & 0xFFFF, call.ts & 0xFFFFFFFF, call.ssrc
            )
        else:  # extension header claiming 65535 words
            pkt = bytes([0x90, PCMA]) + struct.pack(
                "!HIIHH", call.seq & 0xFFFF, call.ts & 0xFFFFFFFF, call.ssrc, 0xBEDE, 0xFFFF
            )
        call.send_raw(pkt)
        sent += 1
        if sent % 20 == 0:
            time.sleep(0.02)
    yield "malformed_headers", sent
    sent = 0
    for _ in range(n(100)):  # RTCP port: garbage and truncated reports
        pkt = rng.choice(
            [
                rng.randbytes(rng.randint(0, 300)),
                b"\x80\xc8\x00\x06" + rng.randbytes(4),
                b"\x81\xc9\xff\xff" + rng.randbytes(20),
            ]
        )
        call.send_raw(pkt, (host, port + 1))
        sent += 1
    yield "rtcp_garbage", sent
    # back to normal: the stream the bot knew, with a fresh sequence
    call.ssrc = 0x1234ABCD
