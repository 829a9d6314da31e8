"""Corrupt and random audio files, generated deterministically, for the hostile-input checks.

Every file made here is unusable as caller audio: random bytes, cut-off or lying WAV headers,
impossible sample rates, channel counts or format tags, a valid header over a data chunk that
is not there, empty files, other file types wearing a ``.wav`` name. ``voicebot call`` and
``voicebot replay`` must refuse each with ``error[...]`` naming the file and exit status 2.
Used by tests/test_corrupt_audio.py (a few dozen) and bench/sip_soak.py (100 or more).
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from pathlib import Path

RATE = 8000


def _fmt(
    tag: int = 1, channels: int = 1, rate: int = RATE, bits: int = 16, extra: bytes = b""
) -> bytes:
    block = max(1, channels * bits // 8) & 0xFFFF
    body = (
        struct.pack(
            "<HHIIHH",
            tag & 0xFFFF,
            channels & 0xFFFF,
            rate & 0xFFFFFFFF,
            (rate * block) & 0xFFFFFFFF,
            block,
            bits & 0xFFFF,
        )
        + extra
    )
    return b"fmt " + struct.pack("<I", len(body)) + body


def _riff(*chunks: bytes, size: int | None = None, form: bytes = b"WAVE") -> bytes:
    body = form + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", (len(body) if size is None else size) & 0xFFFFFFFF) + body


def _data(payload: bytes, size: int | None = None) -> bytes:
    n = len(payload) if size is None else size
    return b"data" + struct.pack("<I", n & 0xFFFFFFFF) + payload


def _valid_wav(rng: random.Random, seconds: float = 0.3) -> bytes:
    n = int(RATE * seconds)
    pcm = bytes(rng.getrandbits(8) for _ in range(2 * n))
    return _riff(_fmt(), _data(pcm))


def _random_bytes(rng: random.Random) -> bytes:
    return rng.randbytes(rng.choice([1, 3, 44, 100, 1000, 4096, 20000]))


def _zero_length(rng: random.Random) -> bytes:
    return b""


def _riff_only(rng: random.Random) -> bytes:
    return b"RIFF"[: rng.randint(1, 4)] if rng.random() < 0.5 else b"RIFF\x24\x00\x00\x00WAVE"


def _truncated_header(rng: random.Random) -> bytes:
    full = _valid_wav(rng)
    return full[: rng.randint(5, 43)]


def _absurd_riff_size(rng: random.Random) -> bytes:
    # a header that says "4 GiB" with no data chunk at all
    return _riff(_fmt(), size=rng.choice([0xFFFFFFFF, 0x7FFFFFFF, 0]))


def _data_size_lies(rng: random.Random) -> bytes:
    # the data chunk claims gigabytes and holds nothing
    return _riff(_fmt(), _data(b"", size=rng.choice([0xFFFFFFFF, 0x7FFFFFF0, 1 << 30])))


def _wrong_format_tag(rng: random.Random) -> bytes:
    tag = rng.choice([0, 0x55, 0x50, 0x11, 0x2000, 0xFFFF, 0x1234, 0x160])
    return _riff(_fmt(tag=tag), _data(rng.randbytes(800)))


def _huge_channels(rng: random.Random) -> bytes:
    ch = rng.choice([0, 1025, 4096, 65535])
    return _riff(_fmt(channels=ch), _data(rng.randbytes(rng.choice([0, 16, 4000]))))


def _bad_rate(rng: random.Random) -> bytes:
    rate = rng.choice([0, 0xFFFFFFFF, 0x80000000, 4_000_000_000])
    return _riff(_fmt(rate=rate), _data(rng.randbytes(400)))


def _bad_bits(rng: random.Random) -> bytes:
    bits = rng.choice([0, 40, 48, 56, 64000])  # 3..32 are legal (rounded up)
    return _riff(_fmt(bits=bits), _data(rng.randbytes(400)))


def _header_then_garbage(rng: random.Random) -> bytes:
    # RIFF/WAVE and a fmt chunk, then random bytes where the data chunk should be
    return _riff(_fmt()) + rng.randbytes(rng.randint(1, 3000))


def _no_fmt_chunk(rng: random.Random) -> bytes:
    return _riff(_data(rng.randbytes(1600)))


def _fmt_too_short(rng: random.Random) -> bytes:
    body = rng.randbytes(rng.randint(0, 13))
    return _riff(b"fmt " + struct.pack("<I", len(body)) + body, _data(rng.randbytes(400)))


def _chunk_size_overflow(rng: random.Random) -> bytes:
    # a junk chunk whose size runs past the end of the file, before fmt and data
    junk = b"LIST" + struct.pack("<I", 0xFFFFFFF0) + rng.randbytes(20)
    return _riff(junk, _fmt(), _data(rng.randbytes(400)))


def _header_only(rng: random.Random) -> bytes:
    # a complete header whose data chunk is empty: no samples
    return _riff(_fmt(), _data(b""))


def _odd_sample_cut(rng: random.Random) -> bytes:
    # 16-bit data with a single byte: not even one sample
    return _riff(_fmt(), _data(b"\x01"))


def _wrong_magic(rng: random.Random) -> bytes:
    good = bytearray(_valid_wav(rng, 0.05))
    magic = rng.choice([b"RIFX", b"FFIR", b"riff", b"RIF\0"])
    good[0:4] = magic[:4]
    if rng.random() < 0.5:
        good[8:12] = b"AVI "
    return bytes(good)


def _other_file_type(rng: random.Random) -> bytes:
    return rng.choice(
        [
            b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n" + rng.randbytes(200),
            b"\x89PNG\r\n\x1a\n" + rng.randbytes(300),
            b"PK\x03\x04" + rng.randbytes(300),
            b"#!/bin/sh\necho hello\n",
            b"ID3\x04\x00\x00\x00\x00\x00\x00" + rng.randbytes(500),
            b"fLaC" + rng.randbytes(200),
            b"OggS" + rng.randbytes(300),
            b"\x00" * rng.choice([10, 1000, 70000]),
            (b"turns:\n  - audio: x.wav\n"),
        ]
    )


def _flipped_header_bits(rng: random.Random) -> bytes:
    # the first 44 header bytes with random bytes overwritten, data left alone: when
    # the damage leaves a readable header this is noise audio, so keep hitting the magic
    good = bytearray(_valid_wav(rng, 0.05))
    for _ in range(rng.randint(2, 8)):
        good[rng.randrange(0, 44)] = rng.getrandbits(8)
    good[rng.choice([0, 1, 2, 3, 8, 9, 10, 11])] ^= 0x5A
    return bytes(good)


KINDS: dict[str, Callable[[random.Random], bytes]] = {
    "random_bytes": _random_bytes,
    "zero_length": _zero_length,
    "riff_only": _riff_only,
    "truncated_header": _truncated_header,
    "absurd_riff_size": _absurd_riff_size,
    "data_size_lies": _data_size_lies,
    "wrong_format_tag": _wrong_format_tag,
    "huge_channels": _huge_channels,
    "bad_rate": _bad_rate,
    "bad_bits": _bad_bits,
    "header_then_garbage": _header_then_garbage,
    "no_fmt_chunk": _no_fmt_chunk,
    "fmt_too_short": _fmt_too_short,
    "chunk_size_overflow": _chunk_size_overflow,
    "header_only": _header_only,
    "odd_sample_cut": _odd_sample_cut,
    "wrong_magic": _wrong_magic,
    "other_file_type": _other_file_type,
    "flipped_header_bits": _flipped_header_bits,
}
"""Kinds of corruption, each a function of a seeded RNG giving the file's bytes."""

SUFFIXES = (".wav", ".wav", ".wav", ".WAV", ".flac", ".ogg", ".aiff")
"""Names the files carry (mostly .wav; a few other container names)."""


def make_corrupt_files(folder: Path, count: int, seed: int = 0) -> list[tuple[Path, str]]:
    """``count`` corrupt audio files in ``folder``: (path, kind), every kind in turn."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    kinds = list(KINDS)
    out = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        suffix = rng.choice(SUFFIXES) if kind in ("random_bytes", "other_file_type") else ".wav"
        path = folder / f"{i:03d}-{kind}{suffix}"
        path.write_bytes(KINDS[kind](rng))
        out.append((path, kind))
    return out


def case_for(audio: Path, folder: Path) -> Path:
    """A caller case (YAML) in ``folder`` whose speech turn is ``audio``."""
    folder.mkdir(parents=True, exist_ok=True)
    case = folder / f"{audio.stem}.yml"
    case.write_text(
        f"description: hostile input, {audio.name}\n"
        "turns:\n"
        f"  - audio: {audio.resolve()}\n"
        "    text: hello\n"
        "expect:\n  outcome: resolved\n"
    )
    return case
