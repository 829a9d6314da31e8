"""What the survey bot just asked, from the text a recogniser made of its prompt (pure, no I/O).

The listening respondent (tests/sip/survey_respondent.py) decodes each bot turn with Whisper
and calls :func:`what_was_asked` with the campaign's survey script: the consent question, one
of the questions (asked first or again after "Sorry, I didn't catch that"), a read-back ("I
heard seven. Is that right?"), the goodbye, or nothing it knows. It matches the content words
of the script's own texts (the bot's words, not the respondent's answers), so it works for any
survey; :func:`readback_is_true` says whether a read-back value is what the respondent meant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from voicebot.center.campaigns.questions import Question, SurveyScript
from voicebot.yes_no import interpret as interpret_yes_no

_WORD = re.compile(r"[a-z]+|\d+")
_STOP = frozenset(
    "a an and are at by do for from how i in is it of on or our the to us was were what "
    "with would you your".split()
)
_NUMBERS = {
    "zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}  # fmt: skip
MIN_SHARE = 0.5
"""A question is recognised when at least this share of its content words were heard."""
_READBACK = re.compile(r"\bi heard\b(?P<value>.*?)(?:\bis that (?:right|correct)\b|$)")
#: how the survey's goodbyes (dialogs/actions/survey.py GOODBYES) end or run, words only
_GOODBYE = re.compile(
    r"\bgood ?bye\b|\bthat s all my questions\b|\bfor your time\b|\bcall you back then\b"
    r"|\bwon t call you again\b"
)


@dataclass(frozen=True)
class Asked:
    """What a bot turn asked.

    Attributes:
        kind: ``question`` (``question_id`` is ``consent`` or a question's id),
            ``readback`` (``value`` is the text read back), ``goodbye`` or ``unknown``.
        question_id: the question asked (``question``), else "".
        value: the read-back's value as heard ("seven", "7"), else "".
        share: the share of the question's content words heard (0..1).
    """

    kind: str
    question_id: str = ""
    value: str = ""
    share: float = 0.0


def words(text: str) -> list[str]:
    """Lower-case words and numbers of ``text`` (numbers in words become digits)."""
    return [_NUMBERS.get(w, w) for w in _WORD.findall(text.lower())]


def content(text: str) -> set[str]:
    """The words of ``text`` that tell one prompt from another (no stop words)."""
    return {w for w in words(text) if w not in _STOP}


def what_was_asked(heard: str, survey: SurveyScript) -> Asked:
    """What a bot turn heard as ``heard`` asked, among ``survey``'s consent and questions."""
    low = " ".join(_WORD.findall(heard.lower()))
    readback = _READBACK.search(low)
    if readback is not None:
        return Asked("readback", value=readback.group("value").strip())
    if _GOODBYE.search(low):  # no question says these words
        return Asked("goodbye")
    said = content(heard)
    best = Asked("unknown")
    prompts = [("consent", survey.consent), *((q.id, q.text) for q in survey.questions)]
    for qid, text in prompts:
        want = content(text)
        share = len(want & said) / max(1, len(want))
        if share > best.share:
            best = Asked("question", qid, share=share)
    if best.share >= MIN_SHARE:
        return best
    return Asked("unknown", share=best.share)


def readback_is_true(question: Question, value: str, meant: str) -> bool:
    """Whether the bot's read-back ``value`` ("seven", "the web") is the answer ``meant``
    ("7", "web") to ``question``."""
    heard = words(value)
    if question.type in ("scale_1_5", "nps_0_10"):
        return [w for w in heard if w.isdigit()] == [meant]
    if question.type == "yes_no":
        return interpret_yes_no(value) == meant
    return meant.lower() in " ".join(heard) and not any(
        o != meant and o in " ".join(heard) for o in question.options
    )
