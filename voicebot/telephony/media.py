"""The media port between the pjsua2 conference bridge and a :class:`CallIO`.

pjsua2 calls :class:`FramePort` from its media clock thread every 20 ms: caller frames go to
the line's inbox (a deque: appends and pops are atomic), and the port calls the line's
``wake`` (:meth:`~voicebot.telephony.line.SipLine.media_wake`), which schedules one poll of
pjsua2 on the event loop per clock tick (not one per frame and call), after the tick's last
frame: the poll empties the inbox into the calls' :class:`CallIO`, all calls of the tick in
the same loop turn (their Silero frames then run as one batch). Bot frames come from the
CallIO's deque (a thread-safe pop). Nothing here blocks or calls back into pjsua2.
"""

from __future__ import annotations

import ctypes
import logging
from collections import deque
from collections.abc import Callable

import pjsua2 as pj

from voicebot.telephony.callio import FRAME_BYTES, FRAME_MS, SAMPLE_RATE, CallIO

log = logging.getLogger(__name__)
_SILENCE = b"\0" * FRAME_BYTES


def _fast_bytes(vec: pj.ByteVector) -> bytes:
    """Copy a SWIG ``std::vector<unsigned char>`` in ~2 us (``bytes(vec)`` takes ~300 us).

    Reads libstdc++'s vector layout (begin, end pointers); checked once at import.
    """
    addr = int(vec.this)
    begin = ctypes.c_void_p.from_address(addr).value
    end = ctypes.c_void_p.from_address(addr + ctypes.sizeof(ctypes.c_void_p)).value
    if not begin or not end or end <= begin:
        return b""
    return ctypes.string_at(begin, end - begin)


def _fast_fill(vec: pj.ByteVector, data: bytes) -> pj.ByteVector:
    """Write ``data`` over the bytes of ``vec`` (same length) in ~1 us, and return ``vec``
    (``pj.ByteVector(data)`` takes ~16 us). Same vector layout as :func:`_fast_bytes`."""
    begin = ctypes.c_void_p.from_address(int(vec.this)).value
    if not begin:
        return pj.ByteVector(data)
    ctypes.memmove(begin, data, len(data))
    return vec


def _check_fast_bytes() -> bool:
    try:
        probe = bytes(range(256)) + b"\x7f" * 64
        if _fast_bytes(pj.ByteVector(probe)) != probe:
            return False
        vec = pj.ByteVector(b"\0" * len(probe))
        return _fast_bytes(_fast_fill(vec, probe)) == probe and list(vec) == list(probe)
    except Exception:  # noqa: BLE001 - any surprise means: use the slow, safe copy
        return False


def _slow_fill(vec: pj.ByteVector, data: bytes) -> pj.ByteVector:
    return pj.ByteVector(data)


FAST_VECTORS = _check_fast_bytes()
vector_bytes = _fast_bytes if FAST_VECTORS else bytes
fill_vector = _fast_fill if FAST_VECTORS else _slow_fill
"""``fill_vector(vec, data)``: a ByteVector holding ``data`` (``vec``, overwritten, when the
fast path works; pjsua2 copies a frame's buffer on assignment, so one vector serves a port)."""


def audio_format() -> pj.MediaFormatAudio:
    """PCM16 mono at 8 kHz in 20 ms frames."""
    fmt = pj.MediaFormatAudio()
    fmt.type = pj.PJMEDIA_TYPE_AUDIO
    fmt.clockRate = SAMPLE_RATE
    fmt.channelCount = 1
    fmt.bitsPerSample = 16
    fmt.frameTimeUsec = FRAME_MS * 1000
    return fmt


class FramePort(pj.AudioMediaPort):
    """Carries 20 ms frames between one call's audio and the :class:`CallIO` attached.

    Ports are pooled by the line and live as long as the Endpoint: destroying one while the
    media clock may still call into it would free a Python object under a running callback.
    Between calls a port is detached and answers silence.
    """

    def __init__(
        self,
        inbox: deque[tuple[CallIO, bytes]],
        number: int,
        wake: Callable[[FramePort], None],
    ) -> None:
        super().__init__()
        self._io: CallIO | None = None
        self._inbox = inbox
        self._wake = wake
        self._silence = pj.ByteVector(_SILENCE)
        self._out = pj.ByteVector(_SILENCE)  # the bot's frame, overwritten each time
        self.createPort(f"vb{number}", audio_format())
        self.slot = int(self.getPortId())
        """The port's slot in the conference bridge, which hands frames out in slot order."""

    def attach(self, io: CallIO | None) -> None:
        """Route frames to and from ``io`` (None: none)."""
        self._io = io

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:  # noqa: N802 - pjsua2 API
        io = self._io
        if io is None or frame.type != pj.PJMEDIA_FRAME_TYPE_AUDIO or frame.size != FRAME_BYTES:
            return
        self._inbox.append((io, vector_bytes(frame.buf)))
        self._wake(self)

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:  # noqa: N802 - pjsua2 API
        io = self._io
        data = io.next_out_frame() if io is not None else None
        frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
        if data is None or len(data) != FRAME_BYTES:
            frame.buf = self._silence if data is None else pj.ByteVector(data)
        else:
            frame.buf = fill_vector(self._out, data)
        frame.size = FRAME_BYTES
