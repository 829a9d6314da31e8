"""Text to speech: Piper at the line rate, sentence by sentence, with a prompt cache.

speaker = load_speaker(settings)           # once per process, blocking (~1 s)
for chunk in speaker.synthesize(text):     # SpeechChunk per sentence, int16, 8000 Hz
    play(chunk.pcm)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from voicebot.config import Settings
from voicebot.tts.config import TtsConfig, tts_config
from voicebot.tts.normalize import normalize, split_sentences

if TYPE_CHECKING:
    from voicebot.tts.piper import PiperSpeaker, SpeechChunk

__all__ = [
    "PiperSpeaker",
    "SpeechChunk",
    "TtsConfig",
    "load_speaker",
    "normalize",
    "split_sentences",
    "tts_config",
]


def __getattr__(name: str) -> Any:
    """``PiperSpeaker`` and ``SpeechChunk`` on first use: importing :mod:`voicebot.tts.piper`
    pulls in SciPy and the model registry (about 40 MB), which a call worker, that only
    reads ``tts.config``, never needs."""
    if name in ("PiperSpeaker", "SpeechChunk"):
        from voicebot.tts import piper

        return getattr(piper, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_speaker(settings: Settings) -> PiperSpeaker:
    """The Piper voice the ``tts`` section configures (ModelError when it is unusable)."""
    from voicebot.tts.piper import PiperSpeaker

    return PiperSpeaker(tts_config(settings))
