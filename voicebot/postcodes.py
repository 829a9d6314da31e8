"""UK postcodes out of spoken (ASR) or typed caller text: "s w one a one a a",
"SW1A 1AA", NATO words and letter names; pure functions, no I/O::

    parse_postcode("it's s w one a one a a")  -> "SW1A 1AA"
"""

from __future__ import annotations

import itertools
import re

from voicebot.number_words import REPEATS, TEENS, UNITS

_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})$")
_NATO = {
    "alpha": "A",
    "bravo": "B",
    "charlie": "C",
    "delta": "D",
    "echo": "E",
    "foxtrot": "F",
    "golf": "G",
    "hotel": "H",
    "india": "I",
    "juliet": "J",
    "kilo": "K",
    "lima": "L",
    "mike": "M",
    "november": "N",
    "oscar": "O",
    "papa": "P",
    "quebec": "Q",
    "romeo": "R",
    "sierra": "S",
    "tango": "T",
    "uniform": "U",
    "victor": "V",
    "whiskey": "W",
    "xray": "X",
    "yankee": "Y",
    "zulu": "Z",
}
_LETTER_WORDS = {
    "ay": "A",
    "bee": "B",
    "see": "C",
    "dee": "D",
    "gee": "G",
    "jay": "J",
    "kay": "K",
    "pee": "P",
    "queue": "Q",
    "are": "R",
    "tee": "T",
    "you": "U",
    "vee": "V",
    "why": "Y",
    "zed": "Z",
    "zee": "Z",
    "ex": "X",
    "em": "M",
    "en": "N",
    "es": "S",
    "ess": "S",
    "el": "L",
    "ell": "L",
    "aitch": "H",
}


def postcode_options(tok: str) -> list[str] | None:
    """What one token can stand for inside a postcode, or None if it cannot be part of one."""
    if tok in ("oh", "o"):
        return ["0", "O"]
    if tok in UNITS:
        return [str(UNITS[tok])]
    if re.fullmatch(r"[0-9]", tok):  # "S W 1 A 1 A A" as an ASR writes it
        return [tok]
    if tok in TEENS:
        return [str(TEENS[tok])]
    if tok in _NATO:
        return [_NATO[tok]]
    if re.fullmatch(r"[a-z]", tok):
        return [tok.upper()]
    if tok in _LETTER_WORDS:
        return [_LETTER_WORDS[tok]]
    if re.fullmatch(r"[a-z0-9]{2,7}", tok) and any(c.isdigit() for c in tok):
        return [tok.upper()]
    return None


def parse_postcode(text: str) -> str | None:
    """A UK postcode in ``text`` as "SW1A 1AA", written or spelled out, or None.

    "SW1A 1AA", "sw1a1aa", "s w one a one a a", "s w one a one double a", "m one one a e".
    """
    raw = re.findall(r"[a-z0-9]+", text.lower())
    tokens: list[str] = []
    i = 0
    while i < len(raw):
        if raw[i] in REPEATS and i + 1 < len(raw) and postcode_options(raw[i + 1]):
            tokens.extend([raw[i + 1]] * REPEATS[raw[i]])
            i += 2
            continue
        if raw[i] == "double" and i + 1 < len(raw) and raw[i + 1] in ("u", "you"):
            tokens.append("w")
            i += 2
            continue
        tokens.append(raw[i])
        i += 1
    # runs of tokens that can be part of a postcode; the postcode is the end of one run
    runs: list[list[list[str]]] = [[]]
    for tok in tokens:
        options = postcode_options(tok)
        if options is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append(options)
    for run in reversed(runs):
        for start in range(len(run)):
            piece = run[start:]
            if len(piece) > 8:
                continue
            for combo in itertools.islice(itertools.product(*piece), 64):
                compact = "".join(combo)
                match = _POSTCODE.match(compact)
                if match:
                    return f"{match[1]} {match[2]}"
    return None
