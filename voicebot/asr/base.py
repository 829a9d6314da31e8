"""The one small interface every speech recogniser implements.

An :class:`AsrEngine` is loaded once per process (blocking, seconds) and shared by all
calls; it is safe to use from several threads. Each caller utterance gets its own
:class:`AsrStream` from :meth:`AsrEngine.open_stream`: feed it line-rate audio with
:meth:`AsrStream.accept` (int16 mono, 8000 Hz on phones) and get the final
:class:`Transcript` from :meth:`AsrStream.finish`. ``expect`` says what the dialog waits
for, and engines use it as a restricted grammar:

========  ==============================================================================
free      anything (no restriction)
digits    digit strings such as an account number; the transcript text is the digits
          (``"40712"``), one :class:`Word` per digit
yes_no    "yes" or "no"; the text is ``"yes"`` / ``"no"`` when clearly one of them,
          otherwise what was heard
spelled   letters and digits said one by one, such as a postcode ("s w one a one a a");
          free text, with a spelling prompt or grammar where the engine has one
========  ==============================================================================

``accept`` and ``finish`` block for the decoding time: call them in an executor, never on
the event loop that drives SIP.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import get_args

import numpy as np
import numpy.typing as npt

from voicebot.errors import AudioError, ConfigError
from voicebot.events import ExpectedInput

LINE_RATE = 8000
"""Sample rate of telephone audio, Hz (G.711)."""

EXPECTED_INPUTS: tuple[str, ...] = get_args(ExpectedInput)

Int16Array = npt.NDArray[np.int16]


@dataclass(frozen=True)
class Word:
    """One recognised word.

    Attributes:
        text: the word as normalized for the transcript (a digit in ``digits`` mode).
        confidence: 0..1, the engine's posterior for this word.
        start: seconds from the start of the utterance, or None when unknown.
        end: seconds from the start of the utterance, or None when unknown.
    """

    text: str
    confidence: float
    start: float | None = None
    end: float | None = None


@dataclass(frozen=True)
class Transcript:
    """The final result for one utterance.

    Attributes:
        text: what was said, normalized for ``expect`` (digits only in ``digits`` mode;
            empty when nothing was recognised).
        confidence: 0..1 for the whole utterance (0.0 when ``text`` is empty).
        words: per-word results; empty when the engine gives none.
        duration: seconds of audio the stream received.
        expect: the input the stream was opened for.
        engine: name of the engine (``whisper``, ``vosk``).
        raw_text: the engine's own text before normalization.
        decode_s: seconds spent in :meth:`AsrStream.finish` (the latency it adds to a turn).
    """

    text: str
    confidence: float
    words: tuple[Word, ...] = ()
    duration: float = 0.0
    expect: ExpectedInput = "free"
    engine: str = ""
    raw_text: str = ""
    decode_s: float = 0.0
    alternatives: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        """True when nothing was recognised."""
        return not self.text


def check_expect(expect: str) -> ExpectedInput:
    """Validate an ``expect`` value, raising ConfigError for unknown ones."""
    if expect not in EXPECTED_INPUTS:
        raise ConfigError(
            f"unknown expected input {expect!r}", hint=f"use one of {', '.join(EXPECTED_INPUTS)}"
        )
    return expect  # type: ignore[return-value]


def as_pcm16(samples: npt.ArrayLike) -> Int16Array:
    """Check that ``samples`` are mono int16 PCM and return them as a 1-D int16 array.

    Raises:
        AudioError: for float, stereo or otherwise unusable input.
    """
    arr = np.asarray(samples)
    if arr.dtype != np.int16:
        raise AudioError(
            f"ASR input must be int16 PCM, got {arr.dtype}",
            hint="convert with voicebot.audio.resample.to_int16 first",
        )
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise AudioError(
            f"ASR input must be mono, got shape {arr.shape}", hint="pick the caller channel"
        )
    return arr


class AsrStream(ABC):
    """One utterance (or one call, reset between utterances) being recognised."""

    expect: ExpectedInput
    sample_rate: int

    @abstractmethod
    def accept(self, samples: npt.ArrayLike) -> str | None:
        """Feed int16 mono audio at :attr:`sample_rate`.

        Returns:
            A partial transcript when the engine has a new one, else None.
        """

    @abstractmethod
    def finish(self) -> Transcript:
        """End the utterance and return its final transcript (blocking: decoding time)."""

    def preview(self) -> Transcript | None:
        """A transcript of the audio so far that leaves the stream open, or None when the
        engine cannot give one with a confidence (blocking: decoding time).

        The session uses it at a pause to end a turn early when it already holds the whole
        answer (all the digits of an account number); :meth:`finish` is still the final word.
        """
        return None

    @property
    @abstractmethod
    def duration(self) -> float:
        """Seconds of audio accepted so far."""


class AsrEngine(ABC):
    """A loaded recogniser shared by every call of the process."""

    name: str = ""

    @abstractmethod
    def open_stream(
        self,
        expect: ExpectedInput = "free",
        *,
        sample_rate: int = LINE_RATE,
        length: int | None = None,
    ) -> AsrStream:
        """A new stream for one utterance; ``sample_rate`` is the input's rate in Hz;
        ``length`` is how many digits the dialog asked for (a hint engines may use)."""

    def transcribe(
        self,
        samples: npt.ArrayLike,
        expect: ExpectedInput = "free",
        *,
        sample_rate: int = LINE_RATE,
        length: int | None = None,
    ) -> Transcript:
        """Recognise a whole utterance at once (int16 mono at ``sample_rate`` Hz)."""
        stream = self.open_stream(expect, sample_rate=sample_rate, length=length)
        stream.accept(samples)
        return stream.finish()

    def close(self) -> None:  # noqa: B027 - optional hook
        """Free the model (optional; the process exit does it too)."""


class _Once:
    """A lock-protected lazily computed value (models shared between threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
