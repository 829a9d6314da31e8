"""Media health on the wire: the RTP packets of the bot's calls, timed by the kernel.

A packet socket on the loopback interface sees every RTP packet as it is sent, with the
kernel's send time (``SO_TIMESTAMPNS``), so the numbers do not depend on how busy this
probe or the callers are. Per direction (``bot``: from the workers' RTP ports to the
callers; ``caller``: to the workers' RTP ports) it reports:

- ``streams``, ``packets``;
- ``late_20ms``: packets sent more than 20 ms later than their RTP timestamp says,
  relative to the previous packet of their stream (a frame at least one frame late; a
  pause in a stream that suppresses silence does not count), ``late_100ms`` likewise, and
  ``gap_ms_p99``/``gap_ms_max`` of the intervals between packets (continuous streams: bot);
- ``jitter_ms_mean``/``jitter_ms_max``: RFC 3550 interarrival jitter at the end of each
  stream (what the far end's RTCP would report);
- bot only, ``underrun_runs``: runs of 1-5 frames of exact digital silence between two
  frames of sound (a prompt that stopped for 20-100 ms because the worker's loop did not
  refill its audio in time; Piper's pauses between sentences are longer and not exact
  zeros), and ``underrun_frames``.

Needs root (``CAP_NET_RAW``); without it the report says ``unavailable``. Run by
``bench/voice_load.py`` for every level; alone::

    python bench/rtp_probe.py --ports 30000-30160 --out probe.json   # until SIGTERM/SIGINT
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = 35
SILENT = {0: (0xFF, 0x7F), 8: (0xD5, 0x55)}
"""Payload types (PCMU, PCMA) and the byte values of exact digital silence."""
FRAME_MS = 20.0


@dataclass
class Stream:
    """Running statistics of one RTP stream (source, destination, SSRC)."""

    last_t: float = 0.0
    last_ts: int = 0
    packets: int = 0
    jitter: float = 0.0
    silent_run: int = 0
    sound_before: bool = False
    gaps: list[float] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    underrun_runs: int = 0
    underrun_frames: int = 0

    def add(self, t: float, ts: int, payload_type: int, payload: bytes, rate: int = 8000) -> None:
        if self.packets:
            gap = (t - self.last_t) * 1000
            self.gaps.append(gap)
            transit = gap - (ts - self.last_ts) * 1000 / rate
            self.delays.append(transit)
            self.jitter += (abs(transit) - self.jitter) / 16
        self.packets += 1
        self.last_t, self.last_ts = t, ts
        silent = set(payload) <= set(SILENT.get(payload_type, ()))
        if silent:
            self.silent_run += 1
            return
        if self.sound_before and 1 <= self.silent_run <= 5:
            self.underrun_runs += 1
            self.underrun_frames += self.silent_run
        self.silent_run = 0
        self.sound_before = True


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, math.ceil(q / 100 * len(values)) - 1)], 1)


def summarize(streams: dict[tuple, Stream], underruns: bool) -> dict[str, object]:
    gaps = [g for s in streams.values() for g in s.gaps]
    delays = [d for s in streams.values() for d in s.delays]
    jitters = [s.jitter for s in streams.values() if s.packets > 1]
    out: dict[str, object] = {
        "streams": len(streams),
        "packets": sum(s.packets for s in streams.values()),
        "late_20ms": sum(d > FRAME_MS for d in delays),
        "late_100ms": sum(d > 5 * FRAME_MS for d in delays),
        "gap_ms_p99": percentile(gaps, 99),
        "gap_ms_max": round(max(gaps), 1) if gaps else None,
        "jitter_ms_mean": round(sum(jitters) / len(jitters), 2) if jitters else None,
        "jitter_ms_max": round(max(jitters), 2) if jitters else None,
    }
    if underruns:
        out["underrun_runs"] = sum(s.underrun_runs for s in streams.values())
        out["underrun_frames"] = sum(s.underrun_frames for s in streams.values())
    return out


def capture(low: int, high: int, out: Path, stop: list[bool]) -> int:
    """Capture until ``stop[0]``; write the summary to ``out``."""
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    except PermissionError as exc:
        out.write_text(json.dumps({"unavailable": f"packet socket: {exc} (needs root)"}))
        return 0
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.bind(("lo", 0))
    sock.settimeout(0.2)
    bot: dict[tuple, Stream] = {}
    caller: dict[tuple, Stream] = {}
    started = time.monotonic()
    while not stop[0]:
        try:
            data, anc, _flags, addr = sock.recvmsg(2048, 64)
        except TimeoutError:
            continue
        except InterruptedError:
            continue
        if addr[2] != PACKET_OUTGOING or len(data) < 14 + 20 + 8 + 12:
            continue  # (loopback shows each packet twice: sent and received)
        ip = data[14:]
        if ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        ihl = (ip[0] & 15) * 4
        sport, dport = struct.unpack_from("!HH", ip, ihl)
        rtp = ip[ihl + 8 :]
        if rtp[0] >> 6 != 2:
            continue
        payload_type = rtp[1] & 0x7F
        if payload_type not in SILENT:
            continue  # (RTCP, telephone-event)
        to_caller = low <= sport < high
        if not to_caller and not low <= dport < high:
            continue
        t = time.time()
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", value[:16])
                t = sec + nsec / 1e9
        _seq, ts, ssrc = struct.unpack_from("!HII", rtp, 2)
        table = bot if to_caller else caller
        key = (ip[12:16], sport, ip[16:20], dport, ssrc)
        table.setdefault(key, Stream()).add(t, ts, payload_type, rtp[12:])
    sock.close()
    out.write_text(
        json.dumps(
            {
                "seconds": round(time.monotonic() - started, 1),
                "bot": summarize(bot, underruns=True),
                "caller": summarize(caller, underruns=False),
            }
        )
    )
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ports", required=True, help="the workers' RTP ports, LOW-HIGH (exclusive)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    low, high = (int(x) for x in args.ports.split("-"))
    stop = [False]

    def halt(_signum: int, _frame: object) -> None:
        stop[0] = True

    signal.signal(signal.SIGTERM, halt)
    signal.signal(signal.SIGINT, halt)
    return capture(low, high, args.out, stop)


if __name__ == "__main__":
    sys.exit(main())
