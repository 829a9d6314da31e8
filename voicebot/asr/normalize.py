"""Pure clean-up of recogniser output for what the dialog expects: digits, yes/no, decoding
loops, word confidences (no I/O)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

from voicebot.asr.base import Word
from voicebot.yes_no import interpret

_TOKEN = re.compile(r"[^\W\d_]+|\d", re.UNICODE)
_REPEATS = ("double", "triple")


def digits_of(text: str, digit_words: Mapping[str, str]) -> list[tuple[str, int]]:
    """The digits spoken or written in ``text``, each with the index of its source token.

    Numerals count one digit each ("407" -> 4, 0, 7); words are looked up in
    ``digit_words`` (case-insensitive); "double"/"triple" repeat the next digit; every
    other word is ignored.
    """
    out: list[tuple[str, int]] = []
    repeat = 1
    for i, tok in enumerate(_TOKEN.findall(text)):
        low = tok.lower()
        if low in ("double", "triple"):
            repeat = 2 if low == "double" else 3
            continue
        digit = tok if tok.isdigit() else digit_words.get(low)
        if digit is None:
            repeat = 1
            continue
        out.extend((digit, i) for _ in range(repeat))
        repeat = 1
    return out


def digits_text(text: str, digit_words: Mapping[str, str]) -> str:
    """Only the digits of ``text`` as one string: ``"four oh 7 double 1"`` -> ``"40711"``."""
    return "".join(d for d, _ in digits_of(text, digit_words))


def yes_no(text: str, yes_words: Iterable[str], no_words: Iterable[str]) -> str:
    """``"yes"`` or ``"no"`` when ``text`` clearly says one of them, else ``text`` unchanged.

    The meaning comes from the one yes/no interpreter (:func:`voicebot.yes_no.interpret`,
    robust to homophones and fillers: "Know, that's wrong." and "yeah no" are no);
    ``yes_words`` / ``no_words`` (the configured grammar) add to its words. A hedged or
    contradictory answer ("Yes, not six, it's on you.") stays as it is, for the dialog to ask
    again.
    """
    answer = interpret(text, yes_words, no_words)
    return answer if answer in ("yes", "no") else text.strip()


def collapse_loops(
    items: list[int], min_repeats: int = 3, longest: int = 8, key: list[int] | None = None
) -> list[int]:
    """Keep one copy of any block of 1..``longest`` tokens repeated ``min_repeats``+ times.

    A short window makes Whisper loop on one-word answers ("saved saved saved ...").
    With ``key`` (the tokens), ``items`` are positions into it and the kept positions are
    returned (so per-token probabilities can follow).
    """
    out = list(items)
    tok = (lambda i: key[i]) if key is not None else (lambda i: i)  # noqa: E731
    for size in range(1, longest + 1):
        i = 0
        while i + size * min_repeats <= len(out):
            block = [tok(x) for x in out[i : i + size]]
            reps = 1
            while [tok(x) for x in out[i + reps * size : i + (reps + 1) * size]] == block:
                reps += 1
            if reps >= min_repeats:
                del out[i + size : i + reps * size]
            i += 1
    return out


def word_key(word: str) -> str:
    """A word compared case- and punctuation-blind ("Six." -> "six")."""
    return re.sub(r"[^\w']", "", word.lower())


def doubled_word(words: list[str]) -> str | None:
    """The first word said twice in a row ("six. six" -> "six"), compared case- and
    punctuation-blind; None when no word follows itself."""
    keys = [word_key(w) for w in words]
    for a, b in zip(keys, keys[1:], strict=False):
        if a and a == b:
            return a
    return None


PHRASE_LOOP_WORDS = 4
"""The shortest phrase whose back-to-back repetition :func:`repeated_phrase` finds."""


def repeated_phrase(words: list[str], shortest: int = PHRASE_LOOP_WORDS) -> bool:
    """Whether a phrase of at least ``shortest`` words is said twice back to back ("press 1
    to record your greeting. Press 1 to record your greeting. Press 1 to ..."), compared
    case- and punctuation-blind: Whisper's decoding loop on a long utterance."""
    keys = [word_key(w) for w in words]
    for n in range(shortest, len(keys) // 2 + 1):
        for i in range(len(keys) - 2 * n + 1):
            if keys[i : i + n] == keys[i + n : i + 2 * n]:
                return True
    return False


def ends_in_loop(ids: list[int], run: int = 3) -> bool:
    """True when the output ends in ``run`` or more copies of one token (a decoding loop)."""
    return len(ids) >= run and len(set(ids[-run:])) == 1


def loops_on(said: str, heard: str) -> bool:
    """Whether ``heard`` is the shorter ``said`` repeated ("12" -> "1212", "7" -> "7777")."""
    if not said or len(said) >= len(heard):
        return False
    return heard == (said * (len(heard) // len(said) + 1))[: len(heard)]


def periodic(digits: str) -> bool:
    """Whether ``digits`` is a shorter run said at least twice ("1212", "12121", "777")."""
    return any(
        digits == (digits[:p] * (len(digits) // p + 1))[: len(digits)]
        for p in range(1, len(digits) // 2 + 1)
    )


def only_digits(text: str, digit_words: dict[str, str]) -> bool:
    """True when ``text`` holds digits (numerals or digit words) and punctuation only."""
    return all(tok.isdigit() or tok.lower() in digit_words for tok in re.findall(r"[^\W_]+", text))


def other_words(text: str, digit_words: dict[str, str]) -> int:
    """How many words of ``text`` are not digits ("Or 7." -> 1; "8th" -> 1 for "th")."""
    return sum(
        1
        for tok in _TOKEN.findall(text)
        if not tok.isdigit() and tok.lower() not in digit_words and tok.lower() not in _REPEATS
    )


def mean_confidence(words: list[Word]) -> float:
    """Geometric mean of word confidences (0.0 for no words)."""
    if not words:
        return 0.0
    return math.exp(sum(math.log(max(w.confidence, 1e-6)) for w in words) / len(words))


def digit_words_of(words: list[Word], digit_words: dict[str, str]) -> list[Word]:
    """One Word per digit, each with the confidence of the word it came from."""
    out: list[Word] = []
    for w in words:
        out.extend(Word(d, w.confidence, w.start, w.end) for d, _ in digits_of(w.text, digit_words))
    return out
