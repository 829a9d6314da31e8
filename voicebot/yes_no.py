"""What an answer to a yes/no question means, from speech-recogniser text (pure, no I/O).

One interpreter for every place that asks a yes/no question: the read-back of digits
("I heard 4 0 7 1. Is that right?"), the dialog's own questions (the bridge), and the
recognisers' yes/no mode. It is built for what ASR makes of short answers on a phone line:

* homophones: "Know, that's wrong." and a lone "Now." are *no*; "Yeah." "Yep." "Yah." *yes*;
* fillers and doubled words: "uh no", "no no", "yes yes";
* discourse markers: "yeah no" (and "yes, no it's wrong", "okay no thanks") is *no*;
  "no, that's fine" / "no, I'm good" (a polite decline) is *no*;
* negated yes words: "not really", "not right", "that isn't correct", "absolutely not";
* hedges and contradictions: "maybe", "I'm not sure", "I don't know", "no... yes", "yeah
  it's not working" are *unsure*: ask again rather than assume yes;
* a plain leading "yes" with only a stray negation after it is *yes* ("Yes, not fixed." is
  how Whisper wrote "yes that fixed it" in the replay suite).

:func:`interpret` returns ``"yes"``, ``"no"``, ``"unsure"`` (a yes/no answer that cannot be
trusted either way) or ``"none"`` (no yes/no word at all: the caller said something else,
such as "billing" or "it's working again").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

Answer = Literal["yes", "no", "unsure", "none"]

# words in any script (the yes/no grammar may be another language's: Korean 예, 네)
_TOKEN = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?|\d+", re.UNICODE)

YES, POLITE, NO, WEAK_NO, HEDGE = "yes", "polite", "no", "weak_no", "hedge"

#: phrases (tuples of tokens) -> kind; the longest phrase at a position wins
_PHRASES: dict[tuple[str, ...], str] = {}


def _add(kind: str, *phrases: str) -> None:
    for phrase in phrases:
        _PHRASES[tuple(phrase.split())] = kind


_add(
    YES,
    "yes",
    "yeah",
    "yep",
    "yup",
    "yea",
    "yeh",
    "yah",
    "ya",
    "yas",
    "yess",
    "aye",
    "sure",
    "correct",
    "right",
    "exactly",
    "absolutely",
    "definitely",
    "certainly",
    "affirmative",
    "ok",
    "okay",
    "okey",
    "alright",
    "all right",
    "of course",
    "please",
    "please do",
    "go ahead",
    "go on",
    "that's it",
    "uh huh",
    "mm hmm",
    "mhm",
    "i think so",
    "i guess so",
    "i do",
    "i would",
    "i'd like that",
    "it did",
    "it has",
    "it does",
    "why not",
    "sounds good",
    "that would be great",
    "don't mind",
    "i don't mind",
)
#: yes-ish on their own ("That's fine." = go ahead), but after a no they decline politely
_add(
    POLITE,
    "fine",
    "that's fine",
    "it's fine",
    "i'm fine",
    "i'm good",
    "i'm ok",
    "i'm okay",
    "that's ok",
    "that's okay",
    "it's ok",
    "it's okay",
    "no problem",
    "no worries",
    "no doubt",
)
#: a clear no ("yeah no", "yes it's wrong" are no)
_add(
    NO,
    "no",
    "nope",
    "nah",
    "naw",
    "na",
    "nay",
    "nop",
    "noh",
    "negative",
    "wrong",
    "incorrect",
    "never",
    "not really",
    "not quite",
    "not at all",
    "not exactly",
    "no way",
    "i don't think so",
    "don't think so",
    "no thanks",
    "no thank you",
    "not now",
    "not today",
)
#: a negation that is a no on its own ("it didn't") but not after a yes ("yes, not six...")
_add(
    WEAK_NO,
    "not",
    "i don't",
    "i wouldn't",
    "it didn't",
    "it doesn't",
    "it hasn't",
    "don't",
    "didn't",
    "doesn't",
    "isn't",
    "wasn't",
    "won't",
    "hasn't",
    "haven't",
)
_add(
    HEDGE,
    "maybe",
    "perhaps",
    "possibly",
    "not sure",
    "i'm not sure",
    "not certain",
    "don't know",
    "i don't know",
    "dunno",
    "no idea",
    "i have no idea",
    "hard to say",
    "depends",
    "it depends",
    "i can't remember",
    "can't remember",
)
_LONGEST = max(len(p) for p in _PHRASES)

#: words that say nothing at the start of an answer
FILLERS = frozenset(
    "uh um umm er erm ah ahh oh hmm mm well so like actually sorry look listen".split()
)
#: negators that turn a following yes word into a no ("not right", "isn't correct")
_NEGATORS = frozenset({"not", "isn't", "wasn't", "ain't", "never", "don't", "doesn't"})
#: ASR homophones of "no" that count only at the start of an answer ("Know that's wrong.",
#: "Now."); elsewhere they are ordinary words ("I know", "it works now")
_NO_HOMOPHONES = frozenset({"know", "now", "noe", "knows"})
#: yes words that are also discourse markers before a no ("yeah no", "okay no thanks")
_MARKERS = frozenset({"yes", "yeah", "yep", "yea", "yeh", "yah", "ok", "okay", "right", "sure"})
#: a yes that leads an answer and is rarely a discourse marker
_LEADING_YES = frozenset({"yes", "yep", "yup", "correct", "exactly", "absolutely"})
#: polite words that may follow a yes or no without changing it
_POLITE_WORDS = frozenset({"thanks", "thank", "you", "cheers", "ta", "please", "mate"})


def tokens(text: str) -> list[str]:
    """Lower-case word tokens; curly apostrophes straightened, other punctuation dropped."""
    return _TOKEN.findall(text.lower().replace("\u2019", "'"))


def _hits(words: list[str]) -> list[tuple[str, int]]:
    """(kind, token index) of every phrase in ``words``, left to right; a negated yes word
    ("not right", "isn't correct", "absolutely not") is a clear no."""
    out: list[tuple[str, int]] = []
    i = 0
    while i < len(words):
        for size in range(min(_LONGEST, len(words) - i), 0, -1):
            kind = _PHRASES.get(tuple(words[i : i + size]))
            if kind is None:
                continue
            if kind in (YES, POLITE):
                negated = any(w in _NEGATORS for w in words[max(0, i - 2) : i])
                follows = i + size < len(words) and words[i + size] == "not"
                if negated or (follows and words[i] not in _MARKERS):
                    kind = NO
            out.append((kind, i))
            i += size
            break
        else:
            i += 1
    return out


def interpret(text: str, yes_words: Iterable[str] = (), no_words: Iterable[str] = ()) -> Answer:
    """``"yes"``, ``"no"``, ``"unsure"`` or ``"none"`` for an answer to a yes/no question.

    ``yes_words`` / ``no_words``: extra single words (lower case) that mean yes or no, such
    as the recogniser's configured yes/no grammar.
    """
    words = tokens(text)
    extra_yes = frozenset(w.lower() for w in yes_words)
    extra_no = frozenset(w.lower() for w in no_words)
    start = next((i for i, w in enumerate(words) if w not in FILLERS), len(words))
    if start < len(words) and words[start] in _NO_HOMOPHONES and words[start] not in extra_yes:
        rest = words[start + 1 :]
        after = interpret(" ".join(rest), extra_yes, extra_no)
        if after == "no" or all(w in _POLITE_WORDS or w in FILLERS for w in rest):
            return "no"  # "Know, that's wrong.", "Now.", "Know thanks."
        if words[start] == "now":
            return after  # "now" before other words is an ordinary word: "now it works"
        return "unsure" if after in ("yes", "unsure") else "no"
    hits = _hits(words)
    for i, w in enumerate(words):
        if not any(j == i for _, j in hits):
            if w in extra_no:
                hits.append((NO, i))
            elif w in extra_yes:
                hits.append((YES, i))
    hits.sort(key=lambda h: h[1])
    kinds = [k for k, _ in hits]
    if HEDGE in kinds:
        return "unsure"
    if not kinds:
        return "none"
    yes_like = [k for k in kinds if k in (YES, POLITE)]
    if not yes_like:
        return "no"
    if len(yes_like) == len(kinds):
        return "yes"
    if all(k == POLITE for k in yes_like):
        return "no"  # "no, that's fine", "nah I'm good"
    first_kind, first_at = hits[0]
    negatives = [k for k in kinds[1:] if k in (NO, WEAK_NO)]
    if (
        first_kind == YES
        and words[first_at] in _MARKERS
        and YES not in kinds[1:]
        and negatives[0] == NO
    ):
        return "no"  # "yeah no", "yes, no it's wrong", "okay no thanks", "yeah I don't think so"
    if (
        first_kind == YES
        and words[first_at] in _LEADING_YES
        and YES not in kinds[1:]
        and NO not in negatives
    ):
        # a plain "yes" leads and only a stray negation follows: the recogniser garbles the
        # words after a short answer more than the answer ("Yes, not fixed." for "yes that
        # fixed it"); "yeah" is different: a discourse marker before bad news
        return "yes"
    return "unsure"  # "no, yes", "yeah it's not working", "no that's right"
