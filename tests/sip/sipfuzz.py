"""Malformed SIP for the hostile-input checks: seeds from real messages, a mutation engine,
and a sender over UDP and TCP.

Seeds are real SIP text: the INVITE / ACK / INFO / BYE / 200 messages of SIPp scenarios
(tests/sip/scenarios, the shared evaluation scenarios in ../shared/eval/sip) with their
keywords filled in, and messages captured on the wire during a real call (SIPp's
``-trace_msg`` file, :func:`captured_messages`). :class:`Mutator` derives malformed
messages from them: truncation, 64 KiB header values, thousands of headers, wrong /
negative / huge Content-Length, broken SDP, binary garbage, huge bodies, invalid start
lines, CRLF injection, bad Via, NUL bytes... Deterministic for a given RNG seed.

Every host written into a message is 127.0.0.1: nothing here makes a proxy resolve a name
or send anywhere off this machine.
"""

from __future__ import annotations

import os
import random
import re
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
KEYWORD = re.compile(r"\[([A-Za-z_:-]+)\]")
CDATA = re.compile(r"<send[^>]*>\s*<!\[CDATA\[(.*?)\]\]>", re.S)


def _fill(text: str, target: tuple[str, int], local_port: int, media_port: int) -> str:
    """SIPp scenario keywords replaced by concrete loopback values."""
    rip, rport = target
    tag = uuid.uuid4().hex[:8]
    call_id = f"{uuid.uuid4().hex}@{HOST}"
    values = {
        "service": "bot",
        "remote_ip": rip,
        "remote_port": str(rport),
        "local_ip": HOST,
        "local_port": str(local_port),
        "transport": "UDP",
        "call_number": "1",
        "call_id": call_id,
        "branch": "z9hG4bK" + uuid.uuid4().hex[:12],
        "pid": "4242",
        "local_ip_type": "4",
        "media_ip_type": "4",
        "media_ip": HOST,
        "media_port": str(media_port),
        "peer_tag_param": f";tag={tag}",
        "routes": f"Route: <sip:{rip}:{rport};lr>",
        "next_url": f"sip:bot@{rip}:{rport}",
        "last_Via:": f"Via: SIP/2.0/UDP {HOST}:{local_port};branch=z9hG4bK{tag}",
        "last_From:": f"From: <sip:caller@{HOST}>;tag={tag}",
        "last_To:": f"To: <sip:bot@{rip}>;tag=b{tag}",
        "last_Call-ID:": f"Call-ID: {call_id}",
        "last_CSeq:": "CSeq: 1 INVITE",
        "last_Contact:": f"Contact: <sip:caller@{HOST}:{local_port}>",
        "authentication": "",
    }
    return KEYWORD.sub(lambda m: values.get(m.group(1), ""), text)


def _assemble(text: str) -> bytes | None:
    """Scenario CDATA (indented, with ``[len]``) as a wire message with CRLF line ends."""
    lines = [ln.strip() for ln in text.strip("\n").splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    if not lines or not re.match(r"^([A-Z]+ \S+ SIP/2\.0|SIP/2\.0 \d{3})", lines[0]):
        return None
    try:
        blank = lines.index("")
    except ValueError:
        blank = len(lines)
    head = [ln for ln in lines[:blank] if ln]
    body_lines = [ln for ln in lines[blank + 1 :] if ln]
    body = "".join(ln + "\r\n" for ln in body_lines)
    head = [ln for ln in head if not ln.lower().startswith(("content-length", "l:"))]
    head.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(head) + "\r\n\r\n" + body).encode("latin-1", "replace")


def scenario_seeds(
    files: Iterable[Path], target: tuple[str, int], local_port: int, media_port: int
) -> list[bytes]:
    """Every message a set of SIPp scenarios sends, filled in for ``target``."""
    out: list[bytes] = []
    for path in files:
        for block in CDATA.findall(path.read_text(errors="replace")):
            msg = _assemble(_fill(block, target, local_port, media_port))
            if msg is not None:
                out.append(msg)
    return out


def captured_messages(trace: Path) -> list[bytes]:
    """The SIP messages of a SIPp ``-trace_msg`` file (what went over the wire), as bytes."""
    text = trace.read_text(errors="replace")
    out = []
    for part in re.split(r"\n-{20,}[^\n]*\n(?:UDP|TCP) message (?:sent|received)[^\n]*\n\n", text):
        part = part.strip("\n")
        if re.match(r"^([A-Z]+ \S+ SIP/2\.0|SIP/2\.0 \d{3})", part):
            msg = part.replace("\r\n", "\n").replace("\n", "\r\n")
            if "\r\n\r\n" not in msg:
                msg += "\r\n\r\n"
            out.append(msg.encode("latin-1", "replace"))
    return out


def _split(msg: bytes) -> tuple[list[bytes], bytes]:
    head, _, body = msg.partition(b"\r\n\r\n")
    return head.split(b"\r\n"), body


def _join(lines: list[bytes], body: bytes) -> bytes:
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _set_length(lines: list[bytes], value: bytes) -> list[bytes]:
    out = [ln for ln in lines if not ln.lower().startswith((b"content-length", b"l:"))]
    return out + [b"Content-Length: " + value]


def _fresh_ids(msg: bytes, rng: random.Random) -> bytes:
    """New Call-ID, branch and From tag, so each mutant is a new transaction."""
    tag = b"%08x" % rng.getrandbits(32)
    msg = re.sub(rb"(?im)^(Call-ID|i):[^\r\n]*", b"Call-ID: fz" + tag + b"@127.0.0.1", msg)
    msg = re.sub(rb"branch=z9hG4bK[^;\r\n]*", b"branch=z9hG4bKfz" + tag, msg)
    return re.sub(rb"(?im)^(From:[^\r\n]*;tag=)[^;\r\n]*", rb"\g<1>fz" + tag, msg)


SDP_BREAKS = (
    b"c=IN IP4 \r\n",
    b"c=IN IP6 127.0.0.1\r\n",
    b"c=XX YY ZZ\r\n",
    b"m=audio 0 RTP/AVP 0\r\n",
    b"m=audio 70000 RTP/AVP 8\r\n",
    b"m=audio -5 RTP/AVP 8\r\n",
    b"m=audio 4000 RTP/AVP 255 300 -1 abc\r\n",
    b"m=audio 4000 RTP/AVP\r\n",
    b"m=video 4000 RTP/AVP 31\r\n",
    b"m=audio 4000 RTP/SAVP 8\r\n",
    b"a=rtpmap:8 PCMA/0\r\n",
    b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-99999\r\n",
    b"a=rtpmap:" + b"9" * 300 + b" X/1\r\n",
    b"a=ptime:-20\r\n",
    b"a=ptime:100000\r\n",
    b"o=\r\n",
    b"v=9\r\n",
    b"t=abc def\r\n",
)


class Mutator:
    """Malformed SIP messages from seeds, deterministic for ``seed``.

    :meth:`mutant` returns (kind, bytes); ``tcp`` allows sizes beyond a UDP datagram.
    """

    def __init__(self, seeds: list[bytes], seed: int = 0) -> None:
        if not seeds:
            raise ValueError("no seed messages")
        self.seeds = seeds
        self.rng = random.Random(seed)
        self.kinds = [
            name[4:]
            for name in dir(self)
            if name.startswith("mut_") and callable(getattr(self, name))
        ]
        self.kinds.sort()

    def mutant(self, tcp: bool = False, kind: str | None = None) -> tuple[str, bytes]:
        rng = self.rng
        kind = kind or rng.choice(self.kinds)
        base = _fresh_ids(rng.choice(self.seeds), rng)
        out = getattr(self, "mut_" + kind)(base, tcp)
        limit = 65000 if not tcp else 2 * 2**20
        return kind, out[:limit]

    # -- the mutations; each takes a seed message and returns the malformed one

    def mut_truncate(self, msg: bytes, tcp: bool) -> bytes:
        return msg[: self.rng.randint(1, max(1, len(msg) - 1))]

    def mut_oversized_header(self, msg: bytes, tcp: bool) -> bytes:
        lines, body = _split(msg)
        size = 64 * 1024 if tcp else 60000
        name = self.rng.choice([b"Subject", b"X-Pad", b"User-Agent", b"Call-Info", b"To"])
        lines.insert(self.rng.randint(1, len(lines)), name + b": " + b"A" * size)
        return _join(lines, body)

    def mut_many_headers(self, msg: bytes, tcp: bool) -> bytes:
        lines, body = _split(msg)
        n = self.rng.choice([200, 1000, 3000 if tcp else 1500])
        name = self.rng.choice([b"Via: SIP/2.0/UDP 127.0.0.1:5;branch=z9hG4bKx", b"X-H: 1"])
        return _join(lines[:1] + [name] * n + lines[1:], body)

    def mut_wrong_content_length(self, msg: bytes, tcp: bool) -> bytes:
        lines, body = _split(msg)
        value = self.rng.choice(
            [
                b"-1",
                b"-99999",
                b"4294967296",
                b"99999999999999999999",
                b"abc",
                b"",
                b"0x10",
                str(len(body) + self.rng.randint(1, 5000)).encode(),
                str(max(0, len(body) - self.rng.randint(1, 100))).encode(),
                b"1 2",
                b"+5",
            ]
        )
        return _join(_set_length(lines, value), body)

    def mut_broken_sdp(self, msg: bytes, tcp: bool) -> bytes:
        lines, body = _split(msg)
        sdp = (
            body.split(b"\r\n")
            if body
            else [b"v=0", b"c=IN IP4 127.0.0.1", b"m=audio 4000 RTP/AVP 8"]
        )
        choice = self.rng.random()
        if choice < 0.25:  # no media at all
            sdp = [ln for ln in sdp if not ln.startswith((b"m=", b"a="))]
        elif choice < 0.5:  # drop c= lines
            sdp = [ln for ln in sdp if not ln.startswith(b"c=")]
        new = b"\r\n".join(ln for ln in sdp if ln) + b"\r\n"
        for _ in range(self.rng.randint(1, 4)):
            new += self.rng.choice(SDP_BREAKS)
        if not any(ln.lower().startswith(b"content-type") for ln in lines):
            lines.append(b"Content-Type: application/sdp")
        return _join(_set_length(lines, str(len(new)).encode()), new)

    def mut_binary_garbage(self, msg: bytes, tcp: bool) -> bytes:
        garbage = self.rng.randbytes(self.rng.choice([1, 4, 100, 1400, 8000]))
        return self.rng.choice([garbage, msg[:20] + garbage, garbage + msg])

    def mut_huge_body(self, msg: bytes, tcp: bool) -> bytes:
        lines, _ = _split(msg)
        size = 2**20 if tcp else 60000
        body = self.rng.choice([b"v=0\r\n" + b"a=x\r\n" * (size // 5), self.rng.randbytes(size)])
        return _join(_set_length(lines, str(len(body)).encode()), body)

    def mut_bad_start_line(self, msg: bytes, tcp: bool) -> bytes:
        lines, body = _split(msg)
        lines[0] = self.rng.choice(
            [
                b"INVITE",
                b"INVITE sip:bot@127.0.0.1 SIP/3.0",
                b"SIP/2.0 99999 Huge",
                b"SIP/2.0 2 Short",
                b"FOO bar baz qux",
                b"INVITE  SIP/2.0",
                b" INVITE sip:x@127.0.0.1 SIP/2.0",
                b"INVITE sip:bot@127.0.0.1:99999999 SIP/2.0",
                b"GET / HTTP/1.1",
                b"",
                b"INVITE <sip:bot@127.0.0.1> SIP/2.0",
                b"\x00INVITE sip:a@127.0.0.1 SIP/2.0",
                b"OPTIONS sip:" + b"x" * 5000 + b"@127.0.0.1 SIP/2.0",
                b"SIP/2.0 200",
            ]
        )
        return _join(lines, body)

    def mut_crlf_injection(self, msg: bytes, tcp: bool) -> bytes:
        lines, body = _split(msg)
        i = self.rng.randrange(len(lines))
        inject = self.rng.choice(
            [
                b"\r\n\r\n",
                b"\r\nContent-Length: 0\r\n\r\nINVITE sip:x@127.0.0.1 SIP/2.0\r\n",
                b"\n",
                b"\r",
                b"\r\r\r",
                b"\r\n \r\n",
                b"\r\n\t",
            ]
        )
        lines[i] = lines[i] + inject + b"X-Injected: 1"
        out = _join(lines, body)
        return out.replace(b"\r\n", b"\n") if self.rng.random() < 0.2 else out

    def mut_bad_via(self, msg: bytes, tcp: bool) -> bytes:
        lines, body = _split(msg)
        lines = [ln for ln in lines if not ln.lower().startswith((b"via:", b"v:"))]
        via = self.rng.choice(
            [
                b"",
                b"Via: ",
                b"Via: SIP/2.0/UDP",
                b"Via: SIP/2.0/XYZ 127.0.0.1:5060;branch=z9hG4bKa",
                b"Via: SIP/2.0/UDP 127.0.0.1:0;branch=z9hG4bKb",
                b"Via: SIP/2.0/UDP 127.0.0.1:99999",
                b"Via: SIP/2.0/UDP 127.0.0.1;branch=",
                b"Via: SIP/2.0/UDP 127.0.0.1;rport=abc;branch=z9hG4bKc",
                b"Via: SIP/9.9/UDP 127.0.0.1:5060",
                b"Via: SIP/2.0/UDP [::1:5060;branch=z9hG4bKd",
                b"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK" + b"b" * 3000,
                b"Via: ;;;;,,,,",
                b"Via: SIP/2.0/UDP 127.0.0.1:5060;received=;branch=z9hG4bKe",
            ]
        )
        return _join(lines[:1] + ([via] if via else []) + lines[1:], body)

    def mut_nul_bytes(self, msg: bytes, tcp: bool) -> bytes:
        out = bytearray(msg)
        kept = {i for m in re.finditer(rb"127\.0\.0\.1", msg) for i in range(m.start(), m.end())}
        for _ in range(self.rng.randint(1, 10)):
            i = self.rng.randrange(len(out))
            if i not in kept:
                out[i] = 0
        return bytes(out)

    def mut_bit_flips(self, msg: bytes, tcp: bool) -> bytes:
        out = bytearray(msg)
        # hosts stay literal: a flipped '127.0.0.1' could become a name to resolve
        kept = {i for m in re.finditer(rb"127\.0\.0\.1", msg) for i in range(m.start(), m.end())}
        for _ in range(self.rng.randint(1, 30)):
            i = self.rng.randrange(len(out))
            if i not in kept:
                out[i] ^= 1 << self.rng.randrange(8)
        return bytes(out)

    def mut_header_mixups(self, msg: bytes, tcp: bool) -> bytes:
        lines, body = _split(msg)
        extra = self.rng.choice(
            [
                b"CSeq: abc INVITE",
                b"CSeq: 4294967296 INVITE",
                b"CSeq: 1 BYE",
                b"CSeq:",
                b"Call-ID:",
                b"From: <>",
                b"To: garbage<<<>>>",
                b"Max-Forwards: -1",
                b"Max-Forwards: 0",
                b"Contact: *",
                b"Contact: <sip:@:>",
                b"Expires: -5",
                b"Content-Type: ",
                b"Content-Type: multipart/mixed;boundary=",
                b"Route: <sip:127.0.0.1:1;lr>",
                b'Authorization: Digest username="' + b"u" * 2000 + b'"',
                b"Require: 100rel,timer,xyz",
                b"Content-Encoding: gzip",
                b"Supported: " + b"x," * 2000,
            ]
        )
        if self.rng.random() < 0.5:  # duplicate a core header instead of adding a new one
            lines.insert(1, lines[self.rng.randrange(1, len(lines))] if len(lines) > 1 else extra)
        lines.insert(self.rng.randint(1, len(lines)), extra)
        return _join(lines, body)

    def mut_unicode_junk(self, msg: bytes, tcp: bool) -> bytes:
        lines, body = _split(msg)
        i = self.rng.randrange(1, len(lines)) if len(lines) > 1 else 0
        junk = self.rng.choice(["Ω≈ç√∫˜µ≤≥÷", "\U0001f4a9" * 50, "é" * 100, "\ufeff", "\u202e"])
        lines[i] = lines[i] + junk.encode()
        return _join(lines, body)


@dataclass
class SendStats:
    """What a fuzz run sent and got back."""

    sent_udp: int = 0
    sent_tcp: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    targets: Counter[str] = field(default_factory=Counter)
    responses: Counter[str] = field(default_factory=Counter)
    tcp_refused: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "sent": self.sent_udp + self.sent_tcp,
            "sent_udp": self.sent_udp,
            "sent_tcp": self.sent_tcp,
            "tcp_connect_failures": self.tcp_refused,
            "by_mutation": dict(sorted(self.kinds.items())),
            "by_target": dict(self.targets),
            "responses_by_status": dict(sorted(self.responses.items())),
        }


class Fuzzer:
    """Sends mutants to SIP targets over UDP (one socket, replies counted) and TCP."""

    def __init__(self, mutator: Mutator, udp_port: int) -> None:
        self.mutator = mutator
        self.stats = SendStats()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((HOST, udp_port))
        self.udp.settimeout(0.2)
        self._halt = threading.Event()
        self._rx = threading.Thread(target=self._receive, daemon=True)
        self._rx.start()

    def _receive(self) -> None:
        while not self._halt.is_set():
            try:
                data = self.udp.recv(70000)
            except (TimeoutError, OSError):
                continue
            m = re.match(rb"SIP/2\.0 (\d{3})", data)
            self.stats.responses[m.group(1).decode() if m else "request"] += 1

    def send(
        self, targets: list[tuple[str, int]], count: int, rate: float, tcp_share: float
    ) -> None:
        """``count`` mutants spread over ``targets``, ``rate`` per second, ``tcp_share`` TCP."""
        rng = self.mutator.rng
        gap = 1.0 / rate if rate > 0 else 0.0
        next_at = time.monotonic()
        for i in range(count):
            target = targets[i % len(targets)]
            tcp = rng.random() < tcp_share
            kind, data = self.mutator.mutant(tcp=tcp)
            self.stats.kinds[kind] += 1
            self.stats.targets[f"{target[1]}/{'tcp' if tcp else 'udp'}"] += 1
            if tcp:
                self._send_tcp(target, data)
                self.stats.sent_tcp += 1
            else:
                try:
                    self.udp.sendto(data, target)
                except OSError:  # e.g. EMSGSIZE: still counted as an attempt
                    pass
                self.stats.sent_udp += 1
            next_at += gap
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def _send_tcp(self, target: tuple[str, int], data: bytes) -> None:
        try:
            with socket.create_connection(target, timeout=2.0) as s:
                if self.mutator.rng.random() < 0.2:  # two messages in one stream
                    data = data + data
                s.sendall(data)
                s.settimeout(0.05)
                try:
                    reply = s.recv(4096)
                    m = re.match(rb"SIP/2\.0 (\d{3})", reply)
                    if m:
                        self.stats.responses[m.group(1).decode()] += 1
                except (TimeoutError, OSError):
                    pass
        except OSError:
            self.stats.tcp_refused += 1

    def close(self) -> None:
        self._halt.set()
        self._rx.join(1.0)
        self.udp.close()


HOSTILE_INFO = [
    b"Signal=" + b"9" * 5000 + b"\r\n",  # aborted pjsua (a worker and its calls) before 413
    b"Signal=" + b"X" * 8000 + b"\r\nDuration=160\r\n",
    b"Signal=Z\r\nDuration=160\r\n",
    b"Signal=\x00\r\n",
    b"Signal=\xff\r\nDuration=-1\r\n",
    b"Duration=99999999999\r\nSignal=1\r\n",
    b"Signal=\r\n",
    b"\xff\xfe\xfd",
    b"",
]
"""dtmf-relay INFO bodies a hostile caller sends inside its own dialog."""


def long_call_media(pcap_dir: Path, speech_plays: int = 1) -> str:
    """SIPp actions for uac_wait_bye.xml: speak ``speech_plays`` x 6.4 s, then press '#'."""
    play = (
        f'<nop><action><exec play_pcap_audio="{pcap_dir}/g711a.pcap"/></action></nop>'
        '<pause milliseconds="6600"/>'
    )
    pound = f'<nop><action><exec play_pcap_audio="{pcap_dir}/dtmf_2833_pound.pcap"/></action></nop>'
    return play * speech_plays + pound


def pids_of(root: int) -> dict[int, str]:
    """Every descendant of ``root`` with its command line (from /proc)."""
    parent: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if stat[0] != "Z":
                parent.setdefault(int(stat[1]), []).append(int(entry))
    out: dict[int, str] = {}
    todo = [root]
    while todo:
        for child in parent.get(todo.pop(), []):
            try:
                cmd = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            out[child] = cmd
            todo.append(child)
    return out


def long_lived(root: int) -> dict[int, str]:
    """``root``, its Kamailio processes and its SIP workers: the processes that must survive.

    Matched on the program (argv[0]), not on the whole command line: the supervisor runs a
    short-lived ``kamcmd -s .../kamailio.ctl`` every 2 s (registration sync), and a snapshot
    taken while one runs must not count it as a process that later died.
    """
    out = {root: "voicebot serve"}
    for pid, cmd in pids_of(root).items():
        program = Path(cmd.split(" ", 1)[0]).name
        if program == "kamailio" or "telephony.worker" in cmd:
            out[pid] = cmd
    return out


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
