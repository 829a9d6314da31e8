"""Read the audio that phones and QA really have; write WAV files.

Reading (:func:`load_audio`) accepts
  * WAV (and any other container libsndfile reads: FLAC, OGG, AIFF...) with PCM 8/16/24/32-bit,
    float, µ-law or A-law samples, at any rate, mono or multi-channel;
  * raw headerless telephony audio named by its extension: ``.ulaw .ul .mulaw .pcmu``
    (G.711 µ-law), ``.alaw .al .pcma`` (G.711 A-law) at 8000 Hz, and ``.sln`` (Asterisk signed
    linear, 16-bit little-endian at 8000 Hz; ``.sln16`` at 16000 Hz).
It returns mono int16 at the requested rate (resampled when needed). For a multi-channel
file it keeps one channel, the caller's: ``channel`` picks it by index (0 = left); with
``channel=None`` the channel with the most speech energy wins (see :func:`pick_channel`).

Anything unusable (missing, empty, truncated, not audio, an unsupported encoding, no
samples) raises :class:`~voicebot.errors.AudioError` naming the file and the problem; no
raw soundfile or numpy exception escapes.

Writing (:func:`write_wav`): PCM16, or G.711 µ-law / A-law WAV (format tags 7 / 6) encoded
with :mod:`voicebot.audio.codecs`, so the bytes match the ITU reference (libsndfile's own
G.711 encoder rounds differently near segment edges).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import soundfile as sf

from voicebot.audio import codecs
from voicebot.audio.resample import resample, to_int16
from voicebot.errors import AudioError

Int16Array = npt.NDArray[np.int16]

RAW_FORMATS: dict[str, tuple[str, int]] = {
    ".ulaw": ("ulaw", 8000),
    ".ul": ("ulaw", 8000),
    ".mulaw": ("ulaw", 8000),
    ".pcmu": ("ulaw", 8000),
    ".alaw": ("alaw", 8000),
    ".al": ("alaw", 8000),
    ".pcma": ("alaw", 8000),
    ".sln": ("l16", 8000),
    ".sln16": ("l16", 16000),
}
"""Headerless formats by file extension: (codec, sample rate in Hz)."""

WavEncoding = Literal["pcm16", "ulaw", "alaw"]


@dataclass(frozen=True)
class AudioConfig:
    """Settings section ``audio``.

    Attributes:
        line_rate: sample rate of the phone line and of the pipeline's audio, Hz.
        channel: the caller's channel in multi-channel files (0 = left), or None for the
            channel with the most speech energy.
    """

    line_rate: int = 8000
    channel: int | None = None


@dataclass(frozen=True, eq=False)
class Audio:
    """Mono audio loaded from a file.

    Attributes:
        samples: int16 samples at ``rate``.
        rate: sample rate of ``samples``, Hz.
        path: the file it came from.
        source_rate: the file's own sample rate, Hz.
        source_channels: the file's channel count.
        channel: the channel kept (0-based).
        encoding: the file's format and sample encoding, e.g. ``WAV/ULAW``, ``raw/ulaw``.
        notes: what was done on the way (channel picked, resampled...), for logs.
    """

    samples: Int16Array
    rate: int
    path: str = ""
    source_rate: int = 0
    source_channels: int = 1
    channel: int = 0
    encoding: str = ""
    notes: tuple[str, ...] = field(default=())

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.rate if self.rate else 0.0


def _speech_band(x: npt.NDArray[np.float64], rate: int) -> npt.NDArray[np.float64]:
    high = min(3400.0, 0.45 * rate)
    if high <= 300.0:
        return x
    from scipy.signal import butter, sosfilt  # lazy: call workers never need scipy

    sos = butter(4, [300.0, high], btype="bandpass", fs=rate, output="sos")
    return np.asarray(sosfilt(sos, x))


def speech_energy(samples: npt.ArrayLike, rate: int) -> float:
    """Energy of the speech-like part of a channel (arbitrary linear units).

    The signal is band-passed to 300-3400 Hz and cut in 20 ms frames; the frames more than
    9 dB above the channel's own floor (its 20th-percentile frame level) are the "speech"
    frames, and their summed power is returned. Steady noise, hum and silence score low.
    """
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    frame = max(1, int(rate * 0.02))
    n = len(x) // frame
    if n == 0:
        return 0.0
    band = _speech_band(x, rate)[: n * frame].reshape(n, frame)
    power = np.mean(band * band, axis=1) + 1e-9
    db = 10.0 * np.log10(power)
    floor = np.percentile(db, 20)
    return float(np.sum(power[db > floor + 9.0]))


def pick_channel(channels: npt.NDArray[np.generic], rate: int) -> int:
    """Index of the caller's channel in a (samples, channels) array: the one with the most
    :func:`speech_energy`. Channel 0 wins unless another has at least 2x (3 dB) more, so
    near-ties and silent files go to channel 0 (the left channel, where call recorders put
    the caller by convention).
    """
    if channels.ndim == 1 or channels.shape[1] == 1:
        return 0
    energies = [speech_energy(channels[:, i], rate) for i in range(channels.shape[1])]
    best = int(np.argmax(energies))
    if best != 0 and energies[best] > 2.0 * energies[0]:
        return best
    return 0


def _fail(path: Path, problem: str, hint: str | None = None) -> AudioError:
    return AudioError(f"audio file {path}: {problem}", hint=hint)


def _read_raw(path: Path, data: bytes, codec: str) -> Int16Array:
    if codec == "l16" and len(data) % 2:
        raise _fail(path, f"raw 16-bit PCM has an odd number of bytes ({len(data)}): truncated")
    return codecs.decode(data, codec)


def _read_container(path: Path) -> tuple[npt.NDArray[np.generic], int, str]:
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise _fail(
            path,
            f"not a readable audio file ({exc})",
            hint="supported: WAV/FLAC/OGG/AIFF (PCM, float, µ-law, A-law) and raw "
            + " ".join(sorted(RAW_FORMATS)),
        ) from exc
    encoding = f"{info.format}/{info.subtype}"
    if info.samplerate <= 0 or info.channels <= 0:
        raise _fail(path, f"invalid header: {info.samplerate} Hz, {info.channels} channels")
    integer = info.subtype in ("PCM_16", "PCM_S8", "PCM_U8", "ULAW", "ALAW")
    try:
        data, rate = sf.read(str(path), dtype="int16" if integer else "float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise _fail(path, f"cannot decode {encoding} samples ({exc})") from exc
    return data, int(rate), encoding


def load_audio(path: str | Path, *, rate: int = 8000, channel: int | None = None) -> Audio:
    """Load ``path`` as mono int16 at ``rate`` Hz (see the module docstring for formats).

    Args:
        path: the file.
        rate: the sample rate wanted, Hz; the file is resampled when it differs.
        channel: the channel to keep in a multi-channel file (0-based), or None for the one
            with the most speech energy.

    Raises:
        AudioError: the file is missing, empty, not audio, has an unsupported encoding, has
            no samples, or ``channel`` is out of range.
    """
    p = Path(path)
    if not p.exists():
        raise _fail(p, "not found")
    if not p.is_file():
        raise _fail(p, "not a regular file")
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise _fail(p, f"cannot be read: {exc.strerror}") from exc
    if size == 0:
        raise _fail(p, "empty file (0 bytes)")
    notes: list[str] = []
    suffix = p.suffix.lower()
    if suffix in RAW_FORMATS:
        codec, src_rate = RAW_FORMATS[suffix]
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise _fail(p, f"cannot be read: {exc.strerror}") from exc
        mono = _read_raw(p, data, codec)
        frames: npt.NDArray[np.generic] = mono.reshape(-1, 1)
        encoding = f"raw/{codec}"
    else:
        frames, src_rate, encoding = _read_container(p)
    if frames.shape[0] == 0:
        raise _fail(p, f"no audio samples ({encoding}, {src_rate} Hz)")
    n_channels = int(frames.shape[1])
    if channel is None:
        chosen = pick_channel(frames, src_rate)
        if n_channels > 1:
            notes.append(f"channel {chosen} of {n_channels} picked by speech energy")
    else:
        if not 0 <= channel < n_channels:
            raise _fail(p, f"has {n_channels} channel(s); channel {channel} does not exist")
        chosen = channel
    picked = frames[:, chosen]
    if np.issubdtype(picked.dtype, np.floating):
        if not np.all(np.isfinite(picked)):
            notes.append("non-finite samples replaced by 0")
        samples = to_int16(picked)
    else:
        samples = picked.astype(np.int16)
    if src_rate != rate:
        samples = np.asarray(resample(samples, src_rate, rate), dtype=np.int16)
        notes.append(f"resampled {src_rate} -> {rate} Hz")
    return Audio(
        samples=samples,
        rate=rate,
        path=str(p),
        source_rate=src_rate,
        source_channels=n_channels,
        channel=chosen,
        encoding=encoding,
        notes=tuple(notes),
    )


def load_caller_audio(path: str | Path, config: AudioConfig) -> Audio:
    """:func:`load_audio` at the line rate with the configured caller channel."""
    return load_audio(path, rate=config.line_rate, channel=config.channel)


def _g711_wav_bytes(payload: bytes, rate: int, tag: int) -> bytes:
    n = len(payload)
    fmt = struct.pack("<HHIIHHH", tag, 1, rate, rate, 1, 8, 0)  # 18-byte WAVEFORMATEX
    fact = struct.pack("<I", n)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"fact" + struct.pack("<I", len(fact)) + fact
    body += b"data" + struct.pack("<I", n) + payload + (b"\x00" if n % 2 else b"")
    return b"RIFF" + struct.pack("<I", len(body)) + body


def write_wav(
    path: str | Path, samples: npt.ArrayLike, rate: int, encoding: WavEncoding = "pcm16"
) -> Path:
    """Write mono int16 ``samples`` at ``rate`` Hz as a WAV file; returns the path.

    ``encoding``: ``pcm16`` (16-bit linear), ``ulaw`` or ``alaw`` (G.711, 8 bits a sample,
    as phones and Asterisk use it). Float input is taken as [-1, 1] and converted to int16.
    Parent folders are created.
    """
    p = Path(path)
    pcm = to_int16(samples).reshape(-1)
    if rate <= 0:
        raise AudioError(f"cannot write {p}: sample rate must be positive, got {rate} Hz")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        if encoding == "pcm16":
            sf.write(str(p), pcm, rate, subtype="PCM_16", format="WAV")
        elif encoding == "ulaw":
            p.write_bytes(_g711_wav_bytes(codecs.ulaw_encode(pcm), rate, 7))
        elif encoding == "alaw":
            p.write_bytes(_g711_wav_bytes(codecs.alaw_encode(pcm), rate, 6))
        else:
            raise AudioError(f"cannot write {p}: unknown WAV encoding '{encoding}'")
    except OSError as exc:
        raise AudioError(f"cannot write {p}: {exc.strerror}") from exc
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"cannot write {p}: {exc}") from exc
    return p
