"""Typed survey answers out of what the callee said or keyed (pure, no I/O).

:func:`parse_answer` reads one caller turn for one question and says how sure it is:

* ``sure``: take it ("four", "I'd say a seven", "7 out of 10", "yes", "the web", key 3);
* ``unsure``: a likely answer to read back first ("I heard seven, is that right?"): a
  homophone of a number ("for", "to", "ate"), a rating said in words ("very satisfied"),
  an option heard only approximately, in spelling or in sound ("the webs" for "web",
  "fun" or "bye, fond" for "phone", "in a sharp" for "in a shop");
* ``none``: no usable answer (silence, "hmm", two different numbers, a number out of range):
  ask again.

:func:`end_request` spots "call me later" and "don't call me again" in any turn, whatever
the NLU model makes of it (the dialog uses both).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Literal

from voicebot.center.campaigns.questions import Question
from voicebot.events import ExpectedInput
from voicebot.yes_no import interpret as interpret_yes_no
from voicebot.yes_no import tokens

Certainty = Literal["sure", "unsure", "none"]

_NUMBER_WORDS = {
    "zero": 0,
    "nought": 0,
    "nil": 0,
    "none": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
#: what a recogniser writes for a lone number word, taken only after confirmation
_HOMOPHONES = {
    "won": 1,
    "to": 2,
    "too": 2,
    "tree": 3,
    "free": 3,
    "for": 4,
    "fore": 4,
    "sex": 6,
    "sick": 6,
    "heaven": 7,
    "ate": 8,
    "nein": 9,
    "tin": 10,
}
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "last": -1}
#: ratings in words for a 1-5 scale (read back before they are taken)
_SCALE_WORDS = (
    (("very", "dissatisfied"), 1),
    (("very", "unsatisfied"), 1),
    (("extremely", "dissatisfied"), 1),
    (("terrible",), 1),
    (("awful",), 1),
    (("very", "poor"), 1),
    (("dissatisfied",), 2),
    (("unsatisfied",), 2),
    (("not", "satisfied"), 2),
    (("poor",), 2),
    (("bad",), 2),
    (("neutral",), 3),
    (("average",), 3),
    (("okay",), 3),
    (("ok",), 3),
    (("very", "satisfied"), 5),
    (("extremely", "satisfied"), 5),
    (("excellent",), 5),
    (("perfect",), 5),
    (("satisfied",), 4),
    (("good",), 4),
)
_LATER = re.compile(
    r"\b(call (me |us )?(back )?(later|another time|some other time|tomorrow|tonight|"
    r"this (afternoon|evening)|next week|in an? (hour|bit))|not (a good|the best|the right) time|"
    r"not now|not right now|bad time|busy (right )?now|i'?m busy|i'?m driving|"
    r"can you call (me )?(back )?|ring (me )?back|call back)\b"
)
_OPT_OUT = re.compile(
    r"\b(don'?t (ever )?(call|ring|phone|contact) (me|us|this number)|"
    r"do not (call|ring|contact)|never (call|ring|contact)|stop (calling|ringing|phoning)|"
    r"take me off|remove (me|my number)|(off|from) your (list|lists|database)|"
    r"no more calls|unsubscribe|opt me out|opt out)\b"
)


@dataclass(frozen=True)
class Parsed:
    """One reading of a turn: ``value`` (the typed answer, None for ``none``) and how sure."""

    value: str | None
    certainty: Certainty

    @property
    def sure(self) -> bool:
        return self.certainty == "sure"


NONE = Parsed(None, "none")


def is_keyed(text: str) -> bool:
    """Whether the turn was keyed on the phone (digits, * and # only)."""
    bare = text.replace(" ", "")
    return (
        bool(bare)
        and all(c.isdigit() or c in "*#" for c in bare)
        and bool(re.fullmatch(r"[0-9*#]+", bare))
    )


def _keyed(question: Question, text: str) -> Parsed:
    digits = text.replace(" ", "").rstrip("#")
    if not digits.isdigit():
        return NONE
    n = int(digits)
    if question.type == "scale_1_5":
        return Parsed(str(n), "sure") if 1 <= n <= 5 and len(digits) == 1 else NONE
    if question.type == "nps_0_10":
        return Parsed(str(n), "sure") if 0 <= n <= 10 and len(digits) <= 2 else NONE
    if question.type == "yes_no":
        return Parsed({1: "yes", 2: "no"}[n], "sure") if digits in ("1", "2") else NONE
    if question.type == "choice":
        if len(digits) == 1 and 1 <= n <= len(question.options):
            return Parsed(question.options[n - 1], "sure")
        return NONE
    return NONE  # a comment cannot be keyed


def _numbers(words: list[str]) -> tuple[list[int], list[int]]:
    """(numbers said plainly, numbers heard as homophones); "out of ten" is dropped."""
    plain: list[int] = []
    homophones: list[int] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w == "out" and i + 1 < len(words) and words[i + 1] == "of":
            i += 3  # "seven out of ten": the scale, not an answer
            continue
        if w.isdigit():
            plain.append(int(w))
        elif w in _NUMBER_WORDS and not (w == "one" and i > 0 and words[i - 1] in ("the", "that")):
            plain.append(_NUMBER_WORDS[w])
        elif w in _HOMOPHONES and (len(words) <= 3 or i == len(words) - 1):
            homophones.append(_HOMOPHONES[w])  # a short answer, or its last word ("say for")
        i += 1
    return plain, homophones


def _number(question: Question, text: str) -> Parsed:
    top = 5 if question.type == "scale_1_5" else 10
    low = 1 if question.type == "scale_1_5" else 0
    spaced = re.sub(r"(\d+)\s*/\s*(\d+)", r"\1 out of \2", text)
    words = tokens(spaced)
    plain, homophones = _numbers(words)
    found = sorted(set(plain))
    if len(found) == 1:
        n = found[0]
        return Parsed(str(n), "sure") if low <= n <= top else NONE
    if len(found) == 2 and plain[-1] == top and plain.count(top) == 1:
        # "eight out of ten" heard as "Eight, twelve, ten.": the scale's top said last
        return Parsed(str(plain[0] if plain[0] != top else plain[1]), "unsure")
    if len(found) > 1:
        return NONE  # "six or seven": ask again rather than pick one
    if len(set(homophones)) == 1 and low <= homophones[0] <= top:
        return Parsed(str(homophones[0]), "unsure")
    if question.type == "scale_1_5":
        joined = f" {' '.join(words)} "
        for phrase, n in _SCALE_WORDS:
            if f" {' '.join(phrase)} " in joined:
                return Parsed(str(n), "unsure")
    return NONE


#: spellings that sound alike, then voiced consonants as their voiceless pair: phone lines
#: blur them ("phone" heard as "fun" or "fond", "shop" as "sharp")
_SOUNDS = (
    ("ph", "f"),
    ("gh", "g"),
    ("ck", "k"),
    ("sh", "X"),
    ("ch", "X"),
    ("th", "0"),
    ("wh", "w"),
    ("qu", "k"),
    ("c", "k"),
    ("q", "k"),
    ("z", "s"),
    ("d", "t"),
    ("b", "p"),
    ("g", "k"),
    ("v", "f"),
)


def sound_key(word: str) -> str:
    """A rough phonetic key of an English word: its first letter (vowel or not), then its
    consonants, alike-sounding spellings merged ("phone" and "fun" -> "fn", "shop" -> "Xp",
    "sharp" -> "Xrp")."""
    w = re.sub(r"[^a-z]", "", word.lower())
    for spelling, sound in _SOUNDS:
        w = w.replace(spelling, sound)
    if not w:
        return ""
    rest = re.sub(r"[aeiouyhw]", "", w[1:])
    return re.sub(r"(.)\1+", r"\1", w[0] + rest)


def _near(heard: str, part: str) -> bool:
    """Whether a heard word is close to a word of an option, in spelling or in sound."""
    if difflib.SequenceMatcher(None, heard, part).ratio() >= 0.75:
        return True
    a, b = sound_key(heard), sound_key(part)
    return len(a) >= 2 and len(b) >= 2 and difflib.SequenceMatcher(None, a, b).ratio() >= 0.75


def _choice(question: Question, text: str) -> Parsed:
    words = tokens(text)
    joined = f" {' '.join(words)} "
    hits = [o for o in question.options if f" {o} " in joined]
    if len(hits) == 1:
        return Parsed(hits[0], "sure")
    if len(hits) > 1:
        return NONE
    for w in words:  # "the second one", "option two", "number 3"
        n = (
            _ORDINALS.get(w)
            or (_NUMBER_WORDS.get(w) if w != "none" else None)
            or (int(w) if w.isdigit() else None)
        )
        if n == -1:
            n = len(question.options)
        if (
            n
            and 1 <= n <= len(question.options)
            and (w in _ORDINALS or {"option", "number", "press", "pressed"} & set(words))
        ):
            return Parsed(question.options[n - 1], "sure")
    close: set[str] = set()
    for w in words:
        for option in question.options:
            if any(_near(w, part) for part in option.split() if len(part) > 2 and len(w) > 2):
                close.add(option)
    if len(close) == 1:
        return Parsed(close.pop(), "unsure")
    return NONE


def parse_answer(question: Question, text: str) -> Parsed:
    """The answer to ``question`` in one turn (said or keyed), see the module docstring."""
    text = " ".join(text.split())
    if not text or text in ("...",):
        return NONE
    if is_keyed(text):
        return _keyed(question, text)
    if question.type in ("scale_1_5", "nps_0_10"):
        return _number(question, text)
    if question.type == "yes_no":
        said = interpret_yes_no(text)
        if said in ("yes", "no"):
            return Parsed(said, "sure")
        return NONE
    if question.type == "choice":
        return _choice(question, text)
    words = tokens(text)
    return Parsed(text, "sure") if words else NONE  # a comment, recorded as said


def end_request(text: str) -> Literal["later", "opt_out"] | None:
    """``opt_out`` for "don't call me again", ``later`` for "call me later" / "not now"."""
    said = " ".join(tokens(text.replace("\u2019", "'")))
    if _OPT_OUT.search(said):
        return "opt_out"
    if _LATER.search(said):
        return "later"
    return None


def heard_as(question: Question | None) -> ExpectedInput:
    """The recogniser mode for an answer to ``question`` (None: the consent question).

    Chosen on the tuning set of bench/survey_asr.py: consent, comments and choices are
    heard freely (consent is as often "call me later" as yes/no; a numbers context makes
    "phone" "Four."); a rating or score in ``number`` mode (a lone digit is decoded again
    as digits); a yes/no with numbers and yes/no as context (``answer``; not ``yes_no``
    mode, which would turn "no, don't call me again" into a bare "no").
    """
    if question is None or question.type in ("comment", "choice"):
        return "free"
    if question.type in ("scale_1_5", "nps_0_10"):
        return "number"
    return "answer"


def spoken_value(question: Question, value: str) -> str:
    """How the bot reads an answer back ("seven", "yes", "the web")."""
    if value.isdigit():
        names = {v: k for k, v in _NUMBER_WORDS.items() if k not in ("nought", "nil", "none")}
        return names.get(int(value), value)
    return value
