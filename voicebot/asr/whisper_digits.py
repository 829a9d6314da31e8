"""Digit decoding for :class:`~voicebot.asr.whisper.WhisperEngine` (a mixin).

Whisper tiny at 8 kHz is least sure of short digit answers, so digit answers get more
care than free speech:

* the allowed tokens in ``digits`` mode are single digits and digit words;
* a one-digit answer is the digit with the most probability over all its spellings
  ("6", " six", " Six"), not the single likeliest token; when that digit is doubtful
  (below ``whisper_digit_recheck_below``), the audio is decoded again with the speech
  shifted later in the window (``whisper_digit_recheck_leads_s``) and the digit
  probabilities of all views are averaged: each view makes different mistakes, and the
  average is right more often than any one view (spoken digits, FSDD: see bench/);
* an answer longer than the asked length is cut (:meth:`DigitDecoding._fit_length`),
  and one of another length is decoded again group by group between pauses
  (:meth:`DigitDecoding._digit_groups`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from voicebot.asr.audio import WHISPER_RATE, Float32Array, pause_spans
from voicebot.asr.base import Word
from voicebot.asr.config import AsrConfig
from voicebot.asr.normalize import (
    digit_words_of,
    digits_of,
    loops_on,
    only_digits,
    other_words,
    periodic,
)

LENGTH_PRIOR = 10.0
"""How much likelier an answer of the asked length is than any other, a priori."""
MAX_OTHER_WORDS = 2
"""A free answer to a digit question with at most this many non-digit words (and no more
than it has digits) is taken for a misheard digit answer ("Two, five, five, both.")."""
NO_END = 1e-6
"""Probability used for "the decode ended here" when it stopped at its token cap."""


class DigitDecoding:
    """Digit-answer methods of the Whisper engine (see the module docstring)."""

    cfg: AsrConfig
    _tok: Any
    _ct2: Any
    _lock: threading.Semaphore
    _prompts: dict[str, list[int]]
    _digit_suppress: list[int]
    _spellings: dict[str, set[int]]
    _stops: list[int]

    # provided by WhisperEngine (see voicebot/asr/whisper.py for their signatures)
    features: Callable[..., npt.NDArray[np.float32]]
    decode: Callable[..., tuple[str, list[Word], float]]
    _step_dist: Callable[[Any, int], npt.NDArray[np.float64] | None]
    _step_prob: Callable[[Any, int, int], float]

    def _digit_tokens(self) -> set[int]:
        """Tokens allowed in digits mode: numerals ("4", " 407") and digit words (any case)."""
        allowed: set[int] = set()
        if self.cfg.whisper_multi_digit_tokens:
            for i in range(self._tok.eot):
                piece = self._tok.decode([i])
                if (
                    piece.strip().isascii()
                    and piece.strip().isdigit()
                    and piece
                    in (
                        piece.strip(),
                        " " + piece.strip(),
                    )
                ):
                    allowed.add(i)
        for word in [str(d) for d in range(10)] + [
            w for w in self.cfg.digit_words if w.isascii() and w != "oh"
        ]:
            for variant in (word, " " + word, word.capitalize(), " " + word.capitalize()):
                ids = self._tok.encode(variant)
                if len(ids) == 1:
                    allowed.add(ids[0])
        return allowed

    def _digit_groups(self, audio: Float32Array, length: int) -> tuple[str, list[Word]] | None:
        """Decode each stretch of speech between pauses on its own, for a digit string
        whose one-piece decode missed the asked ``length`` (Whisper tiny drops the last
        digits of a quiet speaker, or runs on); None unless the pieces give ``length``."""
        spans = pause_spans(audio)
        if not 1 < len(spans) <= length:
            return None
        texts: list[str] = []
        words: list[Word] = []
        for start, end in spans:
            text, part, _ = self.decode(audio[start:end], "digits")
            texts.append(text.lower())
            words += part
        if sum(len(digits_of(w.text, self.cfg.digit_words)) for w in words) != length:
            return None
        return " ".join(texts), words

    def _digit_totals(self, dist: npt.NDArray[np.float64]) -> dict[str, float]:
        """Probability of each digit summed over its spellings, from one decoding step."""
        return {d: float(dist[list(toks)].sum()) for d, toks in self._spellings.items()}

    def _one_digit(
        self, result: Any, ids: list[int], probs: list[float], audio: Float32Array
    ) -> tuple[list[int], list[float]]:
        """A one-digit answer: the digit with the most probability over all its spellings
        ("6", " six", " Six"), not the single likeliest token; a doubtful one is decided
        by the average over time-shifted views of ``audio`` (16 kHz)."""
        dist = self._step_dist(result, 0)
        if dist is None:
            return ids, probs
        totals = self._digit_totals(dist)
        rechecked = max(totals.values()) < self.cfg.whisper_digit_recheck_below
        if rechecked:
            totals = self._recheck_digit(audio, totals)
        best = max(totals, key=lambda d: totals[d])
        if ids[0] in self._spellings[best] and not rechecked:
            return ids, probs
        token = (
            ids[0]
            if ids[0] in self._spellings[best]
            else max(self._spellings[best], key=lambda t: float(dist[t]))
        )
        return [token], [min(1.0, totals[best])]

    def _recheck_digit(self, audio: Float32Array, totals: dict[str, float]) -> dict[str, float]:
        """Average ``totals`` with the digit probabilities of ``audio`` decoded again with
        each lead-in of ``whisper_digit_recheck_leads_s`` (one batched encoder pass)."""
        import ctranslate2

        leads = self.cfg.whisper_digit_recheck_leads_s
        if not leads:
            return totals
        # one window for every view: the one the longest lead-in needs
        window = math.ceil(max(leads) + audio.size / WHISPER_RATE + self.cfg.whisper_pad_s)
        window = max(window, math.ceil(self.cfg.whisper_digits_window_s))
        feats = np.stack([self.features(audio, window, lead_s=lead) for lead in leads])
        prompt = self._prompts["digits"]
        with self._lock:
            encoded = self._ct2.encode(ctranslate2.StorageView.from_array(feats))
            results = self._ct2.generate(
                encoded,
                [prompt] * len(leads),
                beam_size=1,
                max_length=len(prompt) + 1,
                return_logits_vocab=True,
                suppress_tokens=self._digit_suppress,
                suppress_blank=True,
            )
        views = [totals]
        for result in results:
            dist = self._step_dist(result, 0)
            if dist is not None:
                views.append(self._digit_totals(dist))
        return {d: sum(v[d] for v in views) / len(views) for d in totals}

    def _digit_answer(
        self, audio: Float32Array, text: str, length: int
    ) -> tuple[str, list[Word]] | None:
        """The digits decode of a free answer ``text`` to a question that asked for
        ``length`` digits but takes words too, when ``text`` is (nearly) all digits and
        that decode gives exactly ``length`` digits; None otherwise (the answer is words:
        "I don't know it", "my PIN is 1234" parses as it is)."""
        found = digits_of(text, self.cfg.digit_words)
        if not found or other_words(text, self.cfg.digit_words) > min(MAX_OTHER_WORDS, len(found)):
            return None
        digit_text, digit_words, _ = self.decode(audio, "digits", length)
        heard = "".join(w.text for w in digit_words_of(digit_words, self.cfg.digit_words))
        said = "".join(d for d, _ in found)
        if len(heard) != length:
            if heard and periodic(said):
                # the free decode looped ("1, 2." heard as "1, 2, 1, 2", cut to the length:
                # a group of a PIN read with pauses): the digits decode does not loop
                return digit_text, digit_words
            return None
        if not other_words(text, self.cfg.digit_words) and loops_on(said, heard):
            # "1, 2." decoded again as "1 2 1 2": told the length, Whisper tiny repeats the
            # digits of a group read on its own (a PIN read 2-2 with a pause between)
            return None
        return digit_text, digit_words

    def _fit_length(
        self, result: Any, ids: list[int], probs: list[float], length: int
    ) -> tuple[list[int], list[float]]:
        """Cut a digit answer longer than ``length`` digits after its ``length``-th digit;
        its last digit's confidence is scaled by how likely the cut is against the longer
        reading (see the module docstring)."""
        words = self.cfg.digit_words
        count, cut = 0, 0
        for k, tok in enumerate(ids):
            count += len(digits_of(self._tok.decode([tok]), words))
            if count >= length:
                cut = k + 1
                break
        rest = self._tok.decode(ids[cut:])
        if count != length or cut == len(ids) or not only_digits(self._tok.decode(ids), words):
            return ids, probs
        if not digits_of(rest, words):
            return ids, probs  # only punctuation after the answer
        dist = self._step_dist(result, cut)
        p_stop = 0.0 if dist is None else float(dist[[self._tok.eot, *self._stops]].sum())
        p_full_end = self._step_prob(result, len(ids), self._tok.eot)
        full = sum(math.log(max(p, 1e-9)) for p in probs[cut:])
        full += math.log(max(p_full_end, NO_END))
        cut_here = math.log(max(p_stop, 1e-9)) + math.log(LENGTH_PRIOR)
        # a longer answer is wrong for sure; how sure the cut is goes into the confidence of
        # its last digit, so an unlikely cut is read back to the caller
        sure = 1.0 / (1.0 + math.exp(min(50.0, full - cut_here)))
        return ids[:cut], [*probs[: cut - 1], probs[cut - 1] * sure]
