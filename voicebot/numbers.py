"""Numbers and dates of birth out of spoken (ASR) or typed caller text (postcodes:
:mod:`voicebot.postcodes`; the words for digits: :mod:`voicebot.number_words`).

Pure functions, no I/O. Speech recognisers write "one two three four", "double five",
"oh", "twenty three", "nineteen eighty" and fillers ("uh", "um", "yeah so"); callers who key
digits or type write "1234". Entity extraction of such strings is unreliable, so the
dialog's form validation runs these parsers on the caller's latest message::

    spoken_digits("uh one two double five oh seven")   -> "125507"
    parse_date_of_birth("march twelfth nineteen eighty")  -> date(1980, 3, 12)
"""

from __future__ import annotations

import re
from datetime import date

from voicebot.number_words import MONTHS, ORDINALS, REPEATS, TEENS, TENS, UNITS
from voicebot.postcodes import parse_postcode, postcode_options

_TOKEN = re.compile(r"[a-z]+|\d+")


def _tokens(text: str) -> list[str]:
    """Lower-case word and digit tokens; "12th" becomes "12", "th"."""
    return _TOKEN.findall(text.lower())


def _is_number_word(tok: str) -> bool:
    return tok.isdigit() or tok in UNITS or tok in TEENS or tok in TENS


def _chunks(tokens: list[str]) -> list[str]:
    """Turn number words into digit strings, one per spoken number.

    "nineteen eighty five" -> ["19", "85"]; "double five" -> ["55"];
    "two thousand and one" -> ["2001"]; "five hundred" -> ["500"]; other words are dropped.
    """
    out: list[str] = []
    i = 0
    n = len(tokens)
    while i < n:
        tok = tokens[i]
        if tok in REPEATS and i + 1 < n and (tokens[i + 1] in UNITS or tokens[i + 1].isdigit()):
            nxt = tokens[i + 1]
            digit = str(UNITS[nxt]) if nxt in UNITS else nxt
            out.append(digit * REPEATS[tok])
            i += 2
            continue
        value, used = _cardinal(tokens, i)
        if used:
            out.append(value)
            i += used
            continue
        i += 1
    return out


def _small(tokens: list[str], i: int) -> tuple[int | None, int]:
    """A number below 100 spelled in words at ``tokens[i]``: (value, tokens used)."""
    if i >= len(tokens):
        return None, 0
    tok = tokens[i]
    if tok in TEENS:
        return TEENS[tok], 1
    if tok in TENS:
        if i + 1 < len(tokens) and tokens[i + 1] in UNITS and UNITS[tokens[i + 1]] > 0:
            return TENS[tok] + UNITS[tokens[i + 1]], 2
        return TENS[tok], 1
    if tok in UNITS and tok not in ("oh", "o"):
        return UNITS[tok], 1
    return None, 0


def _cardinal(tokens: list[str], i: int) -> tuple[str, int]:
    """One spoken number at ``tokens[i]`` as digits: (digits, tokens used), ("", 0) if none."""
    tok = tokens[i]
    if tok.isdigit():
        return tok, 1
    if tok in ("oh", "o", "zero", "nought", "nil"):
        return "0", 1
    first, used = _small(tokens, i)
    if first is None:
        return "", 0
    j = i + used
    # "five hundred (and) twelve", "two thousand (and) one"
    if j < len(tokens) and tokens[j] in ("hundred", "thousand") and first < 10:
        scale = 100 if tokens[j] == "hundred" else 1000
        j += 1
        total = first * scale
        k = j + 1 if j < len(tokens) and tokens[j] == "and" else j
        if scale == 1000 and k < len(tokens):
            sub, sub_used = _small(tokens, k)
            if sub is not None and k + sub_used < len(tokens) and tokens[k + sub_used] == "hundred":
                total += sub * 100
                k += sub_used + 1
                j = k
                k = j + 1 if j < len(tokens) and tokens[j] == "and" else j
        rest, rest_used = _small(tokens, k)
        if rest is not None:
            total += rest
            j = k + rest_used
        return str(total), j - i
    return str(first), used


def spoken_digits(text: str) -> str:
    """All digits in ``text``, spoken or written, in order ("" when there are none).

    Handles "one two three", "double five", "triple oh", "zero"/"oh"/"o", "twenty three",
    keyed digits with spaces or dashes, and ignores fillers and other words.
    """
    return "".join(_chunks(_tokens(text)))


def extract_number(text: str, length: int) -> str | None:
    """The digits of ``text`` when there are exactly ``length`` of them, else None."""
    digits = spoken_digits(text)
    return digits if len(digits) == length else None


_ANSWER_FILLERS = frozenset(
    "my the is it its s pin code number account uh um er erm and that s".split()
)


def complete_digit_answer(text: str, length: int) -> str | None:
    """The digits of ``text`` when it is only a digit answer of exactly ``length`` digits.

    "4 0 7 1 2 3 3 9", "My PIN is one two three four" -> the digits; None when the count
    differs or another word is in it ("the fourth of July", "1980 I think"), or when a
    number is said as tens ("nineteen eighty" may be the start of a year), so a date of
    birth or an unfinished answer is never taken for a complete one.
    """
    tokens = _tokens(text)
    if any(
        not (tok.isdigit() or tok in UNITS or tok in REPEATS or tok in _ANSWER_FILLERS)
        for tok in tokens
    ):
        return None
    return extract_number(text, length)


def partial_digit_answer(text: str, length: int) -> str | None:
    """The digits of ``text`` when it is plainly the start of a ``length``-digit answer:
    only digits (and the fillers of :func:`complete_digit_answer`), at least one and fewer
    than ``length``. "4 7 2", "my account number is four seven" -> the digits; None for
    "nineteen eighty" (tens: maybe a year), "the fourth of", a whole or too long answer,
    or no digit at all."""
    tokens = _tokens(text)
    if any(
        not (tok.isdigit() or tok in UNITS or tok in REPEATS or tok in _ANSWER_FILLERS)
        for tok in tokens
    ):
        return None
    digits = spoken_digits(text)
    return digits if 0 < len(digits) < length else None


_LEAD_INS = frozenset(
    "my the is its it s pin code number account uh um er erm and of on in born date birth "
    "so well yes yeah ok okay".split()
)


def digit_answer_state(text: str, length: int) -> str:
    """Where an answer to "say your N-digit number" stands, from what was heard so far.

    ``complete``: exactly ``length`` digits and nothing else (:func:`complete_digit_answer`);
    ``not_digits``: words with no number, month or ordinal in them that do not end on a
    lead-in ("no thanks goodbye", "I don't have one"): the caller is not giving digits;
    ``open``: anything else (digits so far, a date under way, "my PIN is ..."): more may come.
    """
    if complete_digit_answer(text, length) is not None:
        return "complete"
    tokens = _tokens(text)
    if not tokens or tokens[-1] in _LEAD_INS:
        return "open"
    if any(
        tok.isdigit() or _is_number_word(tok) or tok in ORDINALS or tok in MONTHS for tok in tokens
    ):
        return "open"
    return "not_digits"


def answer_state(text: str, expect: str, length: int | None) -> str:
    """:func:`digit_answer_state` for a digit question (``length`` digits asked for);
    for a postcode (``expect`` ``spelled``): ``complete`` once ``text`` holds a whole UK
    postcode, ``not_postcode`` when no word of it can be part of one and it does not end on
    a lead-in ("no thanks goodbye"; but "I don't know" holds the letter I: ``open``), else
    ``open``."""
    if length:
        return digit_answer_state(text, length)
    if expect == "spelled":
        if parse_postcode(text) is not None:
            return "complete"
        tokens = re.findall(r"[a-z0-9]+", text.lower())
        if (
            tokens
            and tokens[-1] not in _LEAD_INS | {"postcode", "post"}
            and not any(postcode_options(tok) for tok in tokens)
        ):
            return "not_postcode"
    return "open"


# ----------------------------------------------------------------------------- dates


def _valid_date(year: int, month: int, day: int, today: date | None = None) -> date | None:
    try:
        value = date(year, month, day)
    except ValueError:
        return None
    today = today or date.today()
    if value.year < 1900 or value > today:
        return None
    return value


def _year(chunks: list[str], today: date) -> int | None:
    """A year from digit chunks: ["1980"], ["19", "80"], ["19", "0", "5"], ["80"]."""
    if not chunks:
        return None
    joined = "".join(chunks)
    if len(chunks) >= 2 and len(chunks[0]) == 2 and len("".join(chunks[1:])) == 2:
        return int(chunks[0] + "".join(chunks[1:]))
    if len(joined) == 4:
        return int(joined)
    if len(joined) == 2:
        yy = int(joined)
        return 2000 + yy if 2000 + yy <= today.year else 1900 + yy
    return None


def _day(tokens: list[str]) -> tuple[int | None, int]:
    """A day of month at the start of ``tokens`` ("12", "12th", "twelfth", "twenty first")."""
    if not tokens:
        return None, 0
    tok = tokens[0]
    suffixed = len(tokens) > 1 and tokens[1] in ("st", "nd", "rd", "th")
    if tok.isdigit() and len(tok) <= 2:
        return int(tok), 2 if suffixed else 1
    if tok in ORDINALS:
        return ORDINALS[tok], 1
    if tok in TENS and len(tokens) > 1 and tokens[1] in ORDINALS and ORDINALS[tokens[1]] < 10:
        return TENS[tok] + ORDINALS[tokens[1]], 2
    value, used = _small(tokens, 0)
    if value is not None:
        return value, used
    return None, 0


_FILLERS = {"the", "of", "on", "in", "and", "uh", "um", "er", "erm", "born", "its", "it", "s"}


def parse_date_of_birth(text: str, today: date | None = None) -> date | None:
    """A date of birth in any common written or spoken form, or None.

    "12 march 1980", "12th of march 1980", "march twelfth nineteen eighty",
    "12/03/1980" (day first, UK), "1980-03-12", "one two oh three one nine eight oh".
    Dates in the future or before 1900 are refused.
    """
    today = today or date.today()
    lowered = text.lower()
    iso = re.search(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b", lowered)
    if iso:
        return _valid_date(int(iso[1]), int(iso[2]), int(iso[3]), today)
    numeric = re.search(r"\b(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d{2}|\d{4})\b", lowered)
    if numeric:
        year = _year([numeric[3]], today)
        return _valid_date(year, int(numeric[2]), int(numeric[1]), today) if year else None

    tokens = [t for t in _tokens(lowered) if t not in _FILLERS]
    month_at = next((i for i, t in enumerate(tokens) if t in MONTHS), None)
    if month_at is not None:
        month = MONTHS[tokens[month_at]]
        before, after = tokens[:month_at], tokens[month_at + 1 :]
        day: int | None = None
        if len(before) >= 2:
            two, used = _day(before[-2:])
            day = two if used == 2 else None
        if day is None and before:
            day, used = _day(before[-1:])
        if day is not None:
            year_tokens = after
        else:
            day, used = _day(after)
            year_tokens = after[used:]
        if day is None:
            return None
        year_tokens = [t for t in year_tokens if t not in ("st", "nd", "rd", "th")]
        year = _year(_chunks(year_tokens), today)
        return _valid_date(year, month, day, today) if year else None

    digits = spoken_digits(lowered)
    if len(digits) == 8:
        return _valid_date(int(digits[4:]), int(digits[2:4]), int(digits[:2]), today)
    if len(digits) == 6:
        year = _year([digits[4:]], today)
        return _valid_date(year, int(digits[2:4]), int(digits[:2]), today) if year else None
    return None
