"""G.711 µ-law and A-law, and 16-bit linear PCM helpers.

Encoding and decoding use 64 KiB / 256-entry lookup tables built once at import from the
ITU-T G.711 reference algorithm (the one in Sun's g711.c and CPython's ``audioop``), so the
results are bit-exact with ``audioop.lin2ulaw`` / ``ulaw2lin`` (and the A-law pair) for
every 16-bit sample. All sample arrays are 1-D ``int16``; G.711 data is ``bytes``, one byte
per sample, at the line's rate (8000 Hz for telephony).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from voicebot.errors import AudioError

Int16Array = npt.NDArray[np.int16]

_ALL_INT16 = np.arange(-32768, 32768, dtype=np.int32)
_SEG_END_U = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)
_SEG_END_A = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)


def _build_ulaw_encode() -> npt.NDArray[np.uint8]:
    pcm = _ALL_INT16 >> 2  # 14-bit range
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(pcm), 8159) + (0x84 >> 2)
    seg = np.searchsorted(_SEG_END_U, mag, side="left")
    seg_c = np.minimum(seg, 7)
    uval = (seg_c << 4) | ((mag >> (seg_c + 1)) & 0xF)
    out = np.where(seg >= 8, 0x7F ^ mask, uval ^ mask)
    return out.astype(np.uint8)


def _build_alaw_encode() -> npt.NDArray[np.uint8]:
    pcm = _ALL_INT16 >> 3  # 13-bit range
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    mag = np.where(pcm >= 0, pcm, -pcm - 1)
    seg = np.searchsorted(_SEG_END_A, mag, side="left")
    seg_c = np.minimum(seg, 7)
    quant = np.where(seg_c < 2, mag >> 1, mag >> np.maximum(seg_c, 1)) & 0xF
    aval = (seg_c << 4) | quant
    out = np.where(seg >= 8, 0x7F ^ mask, aval ^ mask)
    return out.astype(np.uint8)


def _build_ulaw_decode() -> Int16Array:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


def _build_alaw_decode() -> Int16Array:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    return np.where(a & 0x80, t, -t).astype(np.int16)


ULAW_ENCODE = _build_ulaw_encode()
"""µ-law byte for each int16 sample, indexed by ``sample + 32768`` (65536 entries)."""
ALAW_ENCODE = _build_alaw_encode()
"""A-law byte for each int16 sample, indexed by ``sample + 32768`` (65536 entries)."""
ULAW_DECODE = _build_ulaw_decode()
"""int16 sample for each µ-law byte (256 entries)."""
ALAW_DECODE = _build_alaw_decode()
"""int16 sample for each A-law byte (256 entries)."""
ULAW_SILENCE = 0xFF
"""The µ-law byte for a zero sample."""
ALAW_SILENCE = 0xD5
"""The A-law byte for a zero sample."""


def _as_int16(samples: npt.ArrayLike) -> Int16Array:
    arr = np.asarray(samples)
    if arr.dtype != np.int16:
        if not np.issubdtype(arr.dtype, np.integer):
            raise AudioError(f"PCM16 samples must be an integer array, got {arr.dtype}")
        arr = np.clip(arr, -32768, 32767).astype(np.int16)
    return arr.reshape(-1)


def _as_bytes_array(
    data: bytes | bytearray | memoryview | npt.NDArray[np.uint8],
) -> npt.NDArray[np.uint8]:
    if isinstance(data, np.ndarray):
        return data.astype(np.uint8, copy=False).reshape(-1)
    return np.frombuffer(bytes(data), dtype=np.uint8)


def ulaw_encode(samples: npt.ArrayLike) -> bytes:
    """Encode int16 samples (any rate) as G.711 µ-law, one byte per sample."""
    pcm = _as_int16(samples)
    return ULAW_ENCODE[pcm.astype(np.int32) + 32768].tobytes()


def alaw_encode(samples: npt.ArrayLike) -> bytes:
    """Encode int16 samples (any rate) as G.711 A-law, one byte per sample."""
    pcm = _as_int16(samples)
    return ALAW_ENCODE[pcm.astype(np.int32) + 32768].tobytes()


def ulaw_decode(data: bytes | bytearray | memoryview | npt.NDArray[np.uint8]) -> Int16Array:
    """Decode G.711 µ-law bytes to int16 samples (same count, same rate)."""
    return ULAW_DECODE[_as_bytes_array(data)]


def alaw_decode(data: bytes | bytearray | memoryview | npt.NDArray[np.uint8]) -> Int16Array:
    """Decode G.711 A-law bytes to int16 samples (same count, same rate)."""
    return ALAW_DECODE[_as_bytes_array(data)]


def pcm16_from_bytes(
    data: bytes | bytearray | memoryview, *, big_endian: bool = False
) -> Int16Array:
    """Signed 16-bit linear PCM bytes (little-endian unless told) to an int16 array.

    Raises AudioError when the byte count is odd (a truncated sample).
    """
    if len(data) % 2:
        raise AudioError(f"PCM16 data has an odd number of bytes ({len(data)}): truncated sample")
    dtype = ">i2" if big_endian else "<i2"
    return np.frombuffer(bytes(data), dtype=dtype).astype(np.int16)


def pcm16_to_bytes(samples: npt.ArrayLike) -> bytes:
    """int16 samples to little-endian 16-bit PCM bytes (2 bytes per sample)."""
    return _as_int16(samples).astype("<i2").tobytes()


def encode(samples: npt.ArrayLike, codec: str) -> bytes:
    """Encode int16 samples with ``codec``: ``pcmu`` / ``ulaw``, ``pcma`` / ``alaw``, ``l16``."""
    name = codec.lower()
    if name in ("pcmu", "ulaw", "mulaw", "u-law"):
        return ulaw_encode(samples)
    if name in ("pcma", "alaw", "a-law"):
        return alaw_encode(samples)
    if name in ("l16", "pcm16", "slin"):
        return pcm16_to_bytes(samples)
    raise AudioError(f"unknown audio codec '{codec}' (known: pcmu, pcma, l16)")


def decode(data: bytes | bytearray | memoryview, codec: str) -> Int16Array:
    """Decode ``data`` in ``codec`` (see :func:`encode`) to int16 samples."""
    name = codec.lower()
    if name in ("pcmu", "ulaw", "mulaw", "u-law"):
        return ulaw_decode(data)
    if name in ("pcma", "alaw", "a-law"):
        return alaw_decode(data)
    if name in ("l16", "pcm16", "slin"):
        return pcm16_from_bytes(data)
    raise AudioError(f"unknown audio codec '{codec}' (known: pcmu, pcma, l16)")
