"""Number answers of a survey for :class:`~voicebot.asr.whisper.WhisperEngine` (a mixin).

A 1-5 rating or a 0-10 score said alone ("seven", "two") is the hardest thing for Whisper
tiny at 8 kHz in a synthetic or unfamiliar voice: a free decode hears "Heaven." or
"Deal.", and a prompt that lists the numbers makes it loop ("Two, two, three, two").
``number`` mode decodes with ``asr.whisper_answer_prompt`` and, when that heard no number
or a loop of several, decodes the audio again in ``digits`` mode (only digit tokens
allowed, the views of :mod:`voicebot.asr.whisper_digits`): a lone digit heard there with
at least ``asr.whisper_number_fallback_min`` probability is the answer. A longer answer in
words ("very satisfied", "it was fine") is left as it is for the survey's parser.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from voicebot.asr.audio import Float32Array
from voicebot.asr.base import Word
from voicebot.asr.config import AsrConfig
from voicebot.asr.normalize import digit_words_of

_TOKEN = re.compile(r"[a-z]+|\d+")
MAX_FALLBACK_WORDS = 2
"""A number decode of more words than this (and no number) is a phrase, not a misheard
number: no digits decode."""
MIN_LOOP = 3
"""A number decode with at least this many numbers in it (not all the same) is a loop."""


def numbers_in(text: str, digit_words: dict[str, str]) -> list[str]:
    """The numbers written or spoken in ``text`` ("Two, two, 3" -> ["2", "2", "3"]; "ten"
    -> ["10"])."""
    out: list[str] = []
    for tok in _TOKEN.findall(text.lower()):
        if tok.isdigit():
            out.append(str(int(tok)))
        elif tok == "ten":
            out.append("10")
        elif tok in digit_words and tok != "oh":
            out.append(digit_words[tok])
    return out


class NumberAnswers:
    """The ``number`` mode's second look (see the module docstring)."""

    cfg: AsrConfig
    decode: Callable[..., tuple[str, list[Word], float]]

    def _number_answer(
        self, audio: Float32Array, text: str, words: list[Word]
    ) -> tuple[str, list[Word]]:
        """``text`` as decoded, or the lone digit a ``digits`` decode of ``audio`` (16 kHz)
        hears when ``text`` holds no number or a loop (see the module docstring)."""
        found = numbers_in(text, self.cfg.digit_words)
        looped = len(found) >= MIN_LOOP and len(set(found)) > 1
        if found and not looped:
            return text, words
        if not found and len(_TOKEN.findall(text.lower())) > MAX_FALLBACK_WORDS:
            return text, words
        _, digit_words, _ = self.decode(audio, "digits")
        digits = digit_words_of(digit_words, self.cfg.digit_words)
        if len(digits) == 1 and digits[0].confidence >= self.cfg.whisper_number_fallback_min:
            return digits[0].text, digits
        return text, words
