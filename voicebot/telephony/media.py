"""The media port between the pjsua2 conference bridge and a :class:`CallIO`.

pjsua2 calls :class:`FramePort` from its media clock thread every 20 ms: caller frames go to
the line's inbox (a deque: appends and pops are atomic), which the event loop empties into
the calls' :class:`CallIO` at each poll of pjsua2 (every ``POLL_S`` = 10 ms during calls);
bot frames come from the CallIO's deque (a thread-safe pop). Nothing here blocks or calls
back into pjsua2. The inbox replaced one ``call_soon_threadsafe`` per frame and call (a
self-pipe write and a loop wake-up, 100 syscalls a second per call).
"""

from __future__ import annotations

import ctypes
import logging
from collections import deque

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


def _check_fast_bytes() -> bool:
    try:
        probe = bytes(range(256)) + b"\x7f" * 64
        return _fast_bytes(pj.ByteVector(probe)) == probe
    except Exception:  # noqa: BLE001 - any surprise means: use the slow, safe copy
        return False


vector_bytes = _fast_bytes if _check_fast_bytes() else bytes


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

    def __init__(self, inbox: deque[tuple[CallIO, bytes]], number: int) -> None:
        super().__init__()
        self._io: CallIO | None = None
        self._inbox = inbox
        self._silence = pj.ByteVector(_SILENCE)
        self.createPort(f"vb{number}", audio_format())

    def attach(self, io: CallIO | None) -> None:
        """Route frames to and from ``io`` (None: none)."""
        self._io = io

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:  # noqa: N802 - pjsua2 API
        io = self._io
        if io is None or frame.type != pj.PJMEDIA_FRAME_TYPE_AUDIO or frame.size != FRAME_BYTES:
            return
        self._inbox.append((io, vector_bytes(frame.buf)))

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:  # noqa: N802 - pjsua2 API
        io = self._io
        data = io.next_out_frame() if io is not None else None
        frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
        frame.buf = self._silence if data is None else pj.ByteVector(data)
        frame.size = FRAME_BYTES
