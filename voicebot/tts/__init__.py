"""Text to speech: Piper at the line rate, sentence by sentence, with a prompt cache.

speaker = load_speaker(settings)           # once per process, blocking (~1 s)
for chunk in speaker.synthesize(text):     # SpeechChunk per sentence, int16, 8000 Hz
    play(chunk.pcm)
"""

from __future__ import annotations

from voicebot.config import Settings
from voicebot.tts.config import TtsConfig, tts_config
from voicebot.tts.normalize import normalize, split_sentences
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


def load_speaker(settings: Settings) -> PiperSpeaker:
    """The Piper voice the ``tts`` section configures (ModelError when it is unusable)."""
    return PiperSpeaker(tts_config(settings))
