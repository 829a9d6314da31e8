"""Speech recognition: engines behind one small interface (see :mod:`voicebot.asr.base`).

    engine = load_engine(settings)          # once per process, blocking (seconds)
    stream = engine.open_stream("digits")   # per utterance, at the line rate (8000 Hz)
    stream.accept(pcm16)                    # -> partial text or None
    transcript = stream.finish()            # -> Transcript(text, confidence, words, ...)

Engines: ``whisper`` (Whisper tiny.en from PyPI, the default) and ``vosk``.
"""

from __future__ import annotations

from voicebot.asr.base import LINE_RATE, AsrEngine, AsrStream, Transcript, Word
from voicebot.asr.config import AsrConfig, asr_config
from voicebot.config import Settings
from voicebot.errors import ConfigError

ENGINES = ("whisper", "vosk")

__all__ = [
    "ENGINES",
    "LINE_RATE",
    "AsrConfig",
    "AsrEngine",
    "AsrStream",
    "Transcript",
    "Word",
    "asr_config",
    "create_engine",
    "load_engine",
]


def create_engine(cfg: AsrConfig) -> AsrEngine:
    """Load the engine ``cfg.engine`` names (blocking; ModelError when its model is unusable)."""
    if cfg.engine == "whisper":
        from voicebot.asr.whisper import WhisperEngine

        return WhisperEngine(cfg)
    if cfg.engine == "vosk":
        from voicebot.asr.vosk import VoskEngine

        return VoskEngine(cfg)
    raise ConfigError(
        f"settings section 'asr': unknown engine {cfg.engine!r}", hint=f"use one of {ENGINES}"
    )


def load_engine(settings: Settings) -> AsrEngine:
    """The engine the ``asr`` section of ``settings`` configures."""
    return create_engine(asr_config(settings))
