"""Pure text clean-up of recogniser output for what the dialog expects (no I/O)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_TOKEN = re.compile(r"[^\W\d_]+|\d", re.UNICODE)


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
    """``"yes"`` or ``"no"`` when ``text`` clearly says one of them, else ``text`` unchanged."""
    words = {w.lower() for w in re.findall(r"[^\W_]+", text, re.UNICODE)}
    yes = bool(words & {str(w).lower() for w in yes_words})
    no = bool(words & {str(w).lower() for w in no_words}) or "not" in words
    if yes and not no:
        return "yes"
    if no and not yes:
        return "no"
    return text.strip()
