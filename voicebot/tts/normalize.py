"""Text to what a phone voice should say (pure functions, no I/O).

* digit strings of 3 or more (account numbers, phone numbers, PINs) are read digit by
  digit: ``"12345678"`` -> ``"1 2 3 4 5 6 7 8"`` (grouped with commas every 4 digits so the
  voice pauses), a leading ``0`` is "zero";
* money: ``"£42.50"`` -> ``"42 pounds 50"``, ``"$3"`` -> ``"3 dollars"``, ``"€1.05"`` ->
  ``"1 euro 5 cents"``;
* clock times: ``"08:00"`` -> ``"eight a m"``, ``"17:30"`` -> ``"five thirty p m"``;
* ``&`` -> ``and``.

Numbers of one or two digits are left to the voice (espeak reads "42" as forty-two).
"""

from __future__ import annotations

import re

_ONES = "zero one two three four five six seven eight nine".split()
_TEENS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()

_CURRENCIES = {
    "£": ("pound", "pounds", "penny", "pence"),
    "$": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
}

_MONEY = re.compile(r"([£$€])\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?")
_TIME = re.compile(r"\b([01]?\d|2[0-3]):([0-5]\d)\b(\s?[ap]\.?m\.?)?", re.IGNORECASE)
_DIGITS = re.compile(r"(?<![\w.,])\d{3,}(?![\w]|[.,]\d)")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=\S)")


def number_words(n: int) -> str:
    """0..99 in words (for clock times)."""
    if n < 10:
        return _ONES[n]
    if n < 20:
        return _TEENS[n - 10]
    tens, ones = divmod(n, 10)
    return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])


def say_time(hour: int, minute: int, suffix: str | None = None) -> str:
    """A clock time in words.

    ``8, 0`` -> ``"eight a m"``; ``17, 30`` -> ``"five thirty p m"``;
    ``0, 5`` -> ``"twelve oh five a m"``.
    """
    if suffix:
        pm = suffix.strip().lower().startswith("p")
    else:
        pm = hour >= 12
    h12 = hour % 12 or 12
    words = number_words(h12)
    if minute:
        words += " " + ("oh " + _ONES[minute] if minute < 10 else number_words(minute))
    return f"{words} {'p m' if pm else 'a m'}"


def say_digits(digits: str) -> str:
    """``"12345678"`` -> ``"1 2 3 4, 5 6 7 8"``: one digit at a time, a pause every 4."""
    groups = [digits[i : i + 4] for i in range(0, len(digits), 4)]
    if len(groups) > 1 and len(groups[-1]) == 1:  # no lone last digit: 3 + 2 instead
        groups[-2:] = [groups[-2][:3], groups[-2][3:] + groups[-1]]
    spoken = [" ".join("zero" if d == "0" else d for d in g) for g in groups]
    return ", ".join(spoken)


def say_money(symbol: str, whole: str, cents: str | None) -> str:
    """``"£", "42", "50"`` -> ``"42 pounds 50"``; ``"$", "1", None`` -> ``"1 dollar"``."""
    one, many, sub_one, sub_many = _CURRENCIES[symbol]
    units = int(whole.replace(",", ""))
    out = f"{units} {one if units == 1 else many}"
    if cents:
        sub = int(cents.ljust(2, "0"))
        if sub and symbol == "£":
            out += f" {sub}"
        elif sub:
            out += f" {sub} {sub_one if sub == 1 else sub_many}"
    return out


def normalize(text: str) -> str:
    """Rewrite ``text`` for speaking on the phone (see the module docstring)."""
    text = text.replace("&", " and ")
    text = _MONEY.sub(lambda m: say_money(m.group(1), m.group(2), m.group(3)), text)
    text = _TIME.sub(lambda m: say_time(int(m.group(1)), int(m.group(2)), m.group(3)), text)
    text = _DIGITS.sub(lambda m: say_digits(m.group(0)), text)
    return re.sub(r"\s+", " ", text).strip()


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (split after . ! ? followed by space); empty ones dropped."""
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]
