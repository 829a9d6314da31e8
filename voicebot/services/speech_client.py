"""Call-worker side of the speech service: the session's Recognizer and Speaker protocols.

:class:`RemoteRecognizer` and :class:`RemoteSpeaker` stand where the in-process Whisper/Vosk
engine and Piper voice stood (:mod:`voicebot.stages`), so the call session does not change.
A :class:`RemoteStream` buffers the utterance locally (``accept`` never blocks and gives no
partial transcripts); ``preview`` and ``finish`` send the audio so far and wait for the
decode. The session already runs those in executor threads, so these calls block.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from voicebot.asr.base import Transcript, Word, as_pcm16
from voicebot.events import ExpectedInput
from voicebot.line import Int16Array
from voicebot.services.client import ServiceClient


def transcript_from_wire(data: dict[str, Any]) -> Transcript:
    words = tuple(Word(**w) for w in data.get("words") or ())
    return Transcript(
        text=str(data.get("text", "")),
        confidence=float(data.get("confidence", 0.0)),
        words=words,
        duration=float(data.get("duration", 0.0)),
        expect=data.get("expect", "free"),
        engine=str(data.get("engine", "")),
        raw_text=str(data.get("raw_text", "")),
        decode_s=float(data.get("decode_s", 0.0)),
        alternatives=tuple(data.get("alternatives") or ()),
    )


class RemoteStream:
    """One utterance, decoded by the speech service (see the module docstring)."""

    def __init__(
        self, client: ServiceClient, expect: ExpectedInput, sample_rate: int, length: int | None
    ) -> None:
        self.client = client
        self.expect = expect
        self.sample_rate = sample_rate
        self.length = length
        self._chunks: list[Int16Array] = []
        self._n = 0

    @property
    def duration(self) -> float:
        """Seconds of audio accepted so far."""
        return self._n / self.sample_rate

    def accept(self, samples: Any) -> str | None:
        pcm = as_pcm16(samples)
        if pcm.size:
            self._chunks.append(pcm.copy())
            self._n += pcm.size
        return None

    def _decode(self, preview: bool) -> Transcript | None:
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        reply = self.client.request(
            {
                "op": "decode",
                "expect": self.expect,
                "rate": self.sample_rate,
                "length": self.length,
                "preview": preview,
                "audio": audio.astype("<i2").tobytes(),
            },
            "speech recognition",
        )
        data = reply.get("transcript")
        return transcript_from_wire(data) if data is not None else None

    def preview(self) -> Transcript | None:
        """The audio so far decoded, stream left open (None when the engine has no preview)."""
        return self._decode(preview=True)

    def finish(self) -> Transcript:
        result = self._decode(preview=False)
        return result if result is not None else Transcript("", 0.0, expect=self.expect)


class RemoteRecognizer:
    """The session's :class:`~voicebot.stages.Recognizer` over the speech service."""

    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    def open_stream(
        self, expect: ExpectedInput = "free", *, sample_rate: int = 8000, length: int | None = None
    ) -> RemoteStream:
        return RemoteStream(self.client, expect, sample_rate, length)


class RemoteSpeaker:
    """The session's :class:`~voicebot.stages.Speaker` over the speech service (its one
    prompt cache serves every worker)."""

    def __init__(self, client: ServiceClient, sample_rate: int) -> None:
        self.client = client
        self.sample_rate = sample_rate

    def sentences(self, text: str) -> Iterator[Int16Array]:
        for part in self.client.stream({"op": "speak", "text": text}, "speech synthesis"):
            yield np.frombuffer(part["pcm"], dtype="<i2").astype(np.int16)

    def warm(self, prompts: list[str]) -> int:
        """Nothing to do here: the speech service warms the shared cache when it starts."""
        return 0
