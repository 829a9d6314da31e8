"""Vosk (Kaldi) recogniser: streaming partial and final results with word confidences.

The model (``asr.vosk_model``) is loaded once and shared; every stream gets its own
``KaldiRecognizer`` at the input's rate (Vosk resamples to the model's rate itself). In
``digits`` and ``yes_no`` mode the recogniser gets a grammar: the words of
``asr.digit_words`` / ``asr.yes_words`` + ``asr.no_words`` that the model knows, plus
``[unk]`` so that anything else is not forced into a digit. Grammars need a model with a
dynamic graph (graph/HCLr.fst + Gr.fst, the "small" models); a static HCLG.fst model
ignores them, and normalization still keeps only the digits.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from voicebot.asr.base import (
    LINE_RATE,
    AsrEngine,
    AsrStream,
    Transcript,
    Word,
    as_pcm16,
    check_expect,
)
from voicebot.asr.config import AsrConfig
from voicebot.asr.normalize import digits_of, yes_no
from voicebot.errors import ModelError
from voicebot.events import ExpectedInput
from voicebot.models_registry import INSTALL_HINT, vosk_model_path

log = logging.getLogger(__name__)


class VoskEngine(AsrEngine):
    """A loaded Vosk model shared by all calls (one recogniser per stream)."""

    name = "vosk"

    def __init__(self, cfg: AsrConfig, model_path: str | None = None) -> None:
        path = vosk_model_path(model_path or cfg.vosk_model)
        try:
            import vosk
        except ImportError as exc:
            raise ModelError("vosk is not installed", hint="run scripts/bootstrap.sh") from exc
        vosk.SetLogLevel(-1)
        try:
            self._model = vosk.Model(str(path))
        except Exception as exc:  # vosk raises a bare Exception("Failed to create a model")
            raise ModelError(
                f"Vosk cannot load the model in {path}: {exc}", hint=INSTALL_HINT
            ) from exc
        self._vosk: Any = vosk
        self.cfg = cfg
        self.path = path
        self._lock = threading.Lock()
        self._grammars: dict[str, str | None] = {
            "free": None,
            "digits": self._grammar(list(cfg.digit_words)),
            "yes_no": self._grammar([*cfg.yes_words, *cfg.no_words]),
            "spelled": None,  # letters, digits and NATO words: the free model does better
            "answer": None,  # a survey answer may be any phrase: free recognition
            "number": None,  # a rating may be said in words ("very satisfied")
        }

    def knows(self, word: str) -> bool:
        """True when ``word`` is in the model's vocabulary."""
        return int(self._model.vosk_model_find_word(word)) >= 0

    def _grammar(self, words: list[str]) -> str | None:
        known = [w for w in words if self.knows(w)]
        unknown = sorted(set(words) - set(known))
        if unknown:
            log.info("Vosk model %s lacks grammar words %s", self.path.name, unknown)
        if not known:
            return None
        return json.dumps([*known, "[unk]"], ensure_ascii=False)

    def grammar(self, expect: ExpectedInput) -> list[str] | None:
        """The word list used for ``expect`` (None = free recognition)."""
        g = self._grammars[expect]
        return None if g is None else list(json.loads(g))

    def open_stream(
        self,
        expect: ExpectedInput = "free",
        *,
        sample_rate: int = LINE_RATE,
        length: int | None = None,
    ) -> VoskStream:
        """A stream with the grammar for ``expect`` (``length`` is not used: a Vosk grammar
        is a word list, and the dialog checks the length)."""
        expect = check_expect(expect)
        grammar = self._grammars[expect]
        args: tuple[Any, ...] = (self._model, float(sample_rate))
        rec = (
            self._vosk.KaldiRecognizer(*args, grammar)
            if grammar
            else self._vosk.KaldiRecognizer(*args)
        )
        rec.SetWords(True)
        rec.SetPartialWords(False)
        return VoskStream(self, rec, expect, sample_rate)


class VoskStream(AsrStream):
    """One utterance on a ``KaldiRecognizer``; Vosk may end segments inside it."""

    def __init__(self, engine: VoskEngine, rec: Any, expect: ExpectedInput, rate: int) -> None:
        self.engine = engine
        self.expect = expect
        self.sample_rate = rate
        self._rec = rec
        self._segments: list[dict[str, Any]] = []
        self._n = 0
        self._last_partial = ""

    @property
    def duration(self) -> float:
        return self._n / self.sample_rate

    def accept(self, samples: npt.ArrayLike) -> str | None:
        pcm = as_pcm16(samples)
        self._n += pcm.size
        if self._rec.AcceptWaveform(np.ascontiguousarray(pcm).tobytes()):
            self._segments.append(json.loads(self._rec.Result()))
            partial = self._text_so_far()
        else:
            current = json.loads(self._rec.PartialResult()).get("partial", "")
            partial = " ".join(t for t in (self._text_so_far(), current) if t)
        if partial and partial != self._last_partial:
            self._last_partial = partial
            return partial
        return None

    def _text_so_far(self) -> str:
        return " ".join(s.get("text", "") for s in self._segments if s.get("text"))

    def finish(self) -> Transcript:
        t0 = time.perf_counter()
        self._segments.append(json.loads(self._rec.FinalResult()))
        words = [
            Word(w["word"], float(w.get("conf", 0.0)), float(w["start"]), float(w["end"]))
            for seg in self._segments
            for w in seg.get("result", [])
            if w.get("word") and w["word"] != "[unk]"
        ]
        raw = " ".join(w.text for w in words) or self._text_so_far().replace("[unk]", "").strip()
        cfg = self.engine.cfg
        text = raw
        if self.expect == "digits":
            words = [
                Word(d, w.confidence, w.start, w.end)
                for w in words
                for d, _ in digits_of(w.text, cfg.digit_words)
            ]
            text = "".join(w.text for w in words)
        elif self.expect == "yes_no":
            text = yes_no(raw, cfg.yes_words, cfg.no_words)
        conf = float(np.mean([w.confidence for w in words])) if words and text else 0.0
        return Transcript(
            text,
            round(conf, 4),
            tuple(words),
            duration=self.duration,
            expect=self.expect,
            engine="vosk",
            raw_text=raw,
            decode_s=time.perf_counter() - t0,
        )
