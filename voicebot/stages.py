"""What the call session needs from each stage: small protocols, so the session imports no
engine. The real ones are :mod:`voicebot.asr` (Whisper, Vosk), :mod:`voicebot.tts` (Piper)
and :mod:`voicebot.turns`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from voicebot.events import ExpectedInput
from voicebot.line import Int16Array


class SpeechStream(Protocol):
    """One utterance being recognised (see :class:`voicebot.asr.base.AsrStream`)."""

    def accept(self, samples: Int16Array) -> str | None:
        """Feed line-rate int16 audio; may return a partial transcript."""
        ...

    def finish(self) -> Any:
        """Final transcript with ``.text`` and ``.confidence`` (0..1). Blocking."""
        ...

    def preview(self) -> Any:
        """Transcript of the audio so far, stream left open, or None. Blocking."""
        ...


class Recognizer(Protocol):
    def open_stream(
        self, expect: ExpectedInput = "free", *, sample_rate: int = 8000, length: int | None = None
    ) -> Any:
        """A stream for one utterance; ``length``: digits asked for (a hint), or None."""
        ...


class Speaker(Protocol):
    sample_rate: int

    def sentences(self, text: str) -> Iterator[Int16Array]:
        """Line-rate int16 audio, one chunk per sentence. Blocking: pulled in an executor."""
        ...

    def warm(self, prompts: list[str]) -> int:
        """Synthesize fixed prompts into the cache; returns how many were made."""
        ...


class TurnMachine(Protocol):
    def handle(self, event: Any) -> list[Any]: ...
