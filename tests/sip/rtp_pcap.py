"""Write what a SIPp callee sends as one RTP stream in a pcap (for ``play_pcap_audio``).

The stream is G.711 mu-law audio (payload type 0) in 20 ms packets with RFC 2833 / 4733
telephone events (payload type 120, what pjsua2 offers) in between: a callee that says
something and then presses keys. SIPp replays the packets with their timing to the bot's RTP port.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

RATE = 8000
FRAME = 160
EVENT_PT = 120
"""Payload type of telephone events: the one pjsua2 offers (tests/sip/scenarios answer it)."""
EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}


def ulaw(samples: np.ndarray) -> bytes:
    """G.711 mu-law encoding of int16 samples."""
    x = samples.astype(np.int32)
    sign = np.where(x < 0, 0x80, 0)
    mag = np.minimum(np.abs(x), 32635) + 0x84
    exp = np.floor(np.log2(mag)).astype(np.int32) - 7
    exp = np.clip(exp, 0, 7)
    mant = (mag >> (exp + 3)) & 0x0F
    return (~(sign | (exp << 4) | mant) & 0xFF).astype(np.uint8).tobytes()


@dataclass
class RtpStream:
    """Builds the packets; :meth:`write` saves them as a pcap (Ethernet, IPv4, UDP)."""

    ssrc: int = 0x1234ABCD
    seq: int = 1
    ts: int = 0
    t: float = 0.0  # capture time of the next packet, s
    packets: list[tuple[float, bytes]] = field(default_factory=list)

    def _rtp(self, pt: int, payload: bytes, *, marker: bool = False, ts: int | None = None) -> None:
        head = struct.pack(
            "!BBHII",
            0x80,
            (0x80 if marker else 0) | pt,
            self.seq & 0xFFFF,
            (self.ts if ts is None else ts) & 0xFFFFFFFF,
            self.ssrc,
        )
        self.packets.append((self.t, head + payload))
        self.seq += 1

    def audio(self, samples: np.ndarray) -> RtpStream:
        """Append audio (int16, 8 kHz), padded to whole 20 ms packets."""
        pad = (-samples.size) % FRAME
        data = np.concatenate([samples.astype(np.int16), np.zeros(pad, dtype=np.int16)])
        for i in range(0, data.size, FRAME):
            self._rtp(0, ulaw(data[i : i + FRAME]))
            self.ts += FRAME
            self.t += FRAME / RATE
        return self

    def silence(self, seconds: float) -> RtpStream:
        return self.audio(np.zeros(int(seconds * RATE), dtype=np.int16))

    def keys(self, digits: str, *, press_s: float = 0.16, gap_s: float = 0.2) -> RtpStream:
        """Append key presses (RFC 4733 events), ``gap_s`` of silence after each."""
        for digit in digits:
            event, start = EVENTS[digit], self.ts
            steps = int(press_s * RATE / FRAME)
            for k in range(1, steps + 1):
                payload = struct.pack("!BBH", event, 10, k * FRAME)
                self._rtp(EVENT_PT, payload, marker=k == 1, ts=start)
                self.t += FRAME / RATE
            for _ in range(3):  # the end packet, sent three times
                self._rtp(EVENT_PT, struct.pack("!BBH", event, 0x80 | 10, steps * FRAME), ts=start)
            self.ts += steps * FRAME
            self.silence(gap_s)
        return self

    def write(self, path: Path) -> Path:
        out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
        for t, rtp in self.packets:
            udp = struct.pack("!HHHH", 16384, 6000, 8 + len(rtp), 0) + rtp
            ip = struct.pack(
                "!BBHHHBBH4s4s",
                0x45,
                0,
                20 + len(udp),
                0,
                0,
                64,
                17,
                0,
                bytes([127, 0, 0, 1]),
                bytes([127, 0, 0, 1]),
            )
            frame = b"\x00" * 12 + b"\x08\x00" + ip + udp
            sec = int(t) + 1_000_000_000
            out.append(struct.pack("<IIII", sec, int((t % 1) * 1e6), len(frame), len(frame)))
            out.append(frame)
        path.write_bytes(b"".join(out))
        return path
