"""A campaign's survey script: the opening, the consent question and the typed questions.

In the campaign file (all three keys optional; a campaign without ``questions`` has no
survey and its callees only hear the opening)::

    opening: "Hello {name}, this is Brightline Energy and Telecom calling about your recent
      call to our help line."
    consent: "Do you have two minutes for three quick questions?"
    questions:
      - {id: satisfaction, type: scale_1_5, text: "How satisfied were you, from 1 to 5?"}
      - {id: recommend, type: nps_0_10, text: "How likely are you to recommend us, 0 to 10?"}
      - {id: resolved, type: yes_no, text: "Was your problem solved?"}
      - {id: channel, type: choice, options: [phone, web, shop],
         text: "Do you usually contact us by phone, on the web, or in a shop?"}
      - {id: comment, type: comment, text: "Anything else you'd like to tell us?"}

``{name}`` in the opening is the contact's name. The script travels to the dialog's custom
actions as JSON in the ``survey_script`` slot (:meth:`SurveyScript.to_json`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from voicebot.errors import ConfigError

QuestionType = Literal["scale_1_5", "nps_0_10", "yes_no", "choice", "comment"]
QUESTION_TYPES: tuple[QuestionType, ...] = ("scale_1_5", "nps_0_10", "yes_no", "choice", "comment")
#: the dialog form has this many answer slots (survey_q1 .. survey_q12)
MAX_QUESTIONS = 12
DEFAULT_OPENING = (
    "Hello {name}, this is the automated assistant of Brightline Energy and Telecom, "
    "calling with a short customer survey."
)
DEFAULT_CONSENT = "Do you have a couple of minutes to answer a few questions?"
_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_RESERVED = frozenset({"consent", "completed", "callback", "opt_out"})


@dataclass(frozen=True)
class Question:
    """One survey question.

    Attributes:
        id: the answer's name in results (``satisfaction``).
        text: what the bot asks.
        type: ``scale_1_5``, ``nps_0_10``, ``yes_no``, ``choice`` or ``comment``.
        options: the choices of a ``choice`` question (keypad 1 = the first).
    """

    id: str
    text: str
    type: QuestionType
    options: tuple[str, ...] = ()

    def keypad_hint(self) -> str:
        """How to answer on the keypad, said after a reprompt ("" for a comment)."""
        if self.type == "scale_1_5":
            return "You can also press a key from 1 to 5."
        if self.type == "nps_0_10":
            return "You can also key a number from 0 to 10, then the hash key."
        if self.type == "yes_no":
            return "You can also press 1 for yes or 2 for no."
        if self.type == "choice":
            keys = ", ".join(f"{i} for {o}" for i, o in enumerate(self.options, 1))
            return f"You can also press {keys}."
        return ""


@dataclass(frozen=True)
class SurveyScript:
    """What the bot says and asks in a survey call (see the module docstring)."""

    opening: str = DEFAULT_OPENING
    consent: str = DEFAULT_CONSENT
    questions: tuple[Question, ...] = field(default_factory=tuple)

    def question(self, index: int) -> Question:
        """The question asked by answer slot ``survey_q{index}`` (1-based)."""
        return self.questions[index - 1]

    def as_dict(self) -> dict[str, Any]:
        return {
            "opening": self.opening,
            "consent": self.consent,
            "questions": [
                {"id": q.id, "text": q.text, "type": q.type, "options": list(q.options)}
                for q in self.questions
            ],
        }

    def to_json(self) -> str:
        """One line of JSON (single spaces only: the dialog bridge collapses whitespace)."""
        return " ".join(json.dumps(self.as_dict(), separators=(",", ":")).split())

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SurveyScript:
        return cls(
            opening=str(raw.get("opening") or DEFAULT_OPENING),
            consent=str(raw.get("consent") or DEFAULT_CONSENT),
            questions=tuple(
                Question(q["id"], q["text"], q["type"], tuple(q.get("options") or ()))
                for q in raw.get("questions") or ()
            ),
        )

    @classmethod
    def from_json(cls, text: str) -> SurveyScript:
        return cls.from_dict(json.loads(text))


def _text(raw: Any, where: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigError(f"{where}: must be a non-empty sentence")
    return " ".join(raw.split())


def parse_script(raw: dict[str, Any], where: str) -> SurveyScript:
    """The survey script of a campaign file (``where`` names the file for errors)."""
    opening = _text(raw.get("opening", DEFAULT_OPENING), f"{where}, key 'opening'")
    try:
        opening.format(name="x")
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"{where}, key 'opening': only {{name}} may be filled in, not {exc}"
        ) from exc
    consent = _text(raw.get("consent", DEFAULT_CONSENT), f"{where}, key 'consent'")
    items = raw.get("questions") or []
    if not isinstance(items, list):
        raise ConfigError(f"{where}, key 'questions': must be a list of questions")
    if len(items) > MAX_QUESTIONS:
        raise ConfigError(
            f"{where}, key 'questions': at most {MAX_QUESTIONS} questions, got {len(items)}"
        )
    questions: list[Question] = []
    for n, item in enumerate(items, 1):
        qwhere = f"{where}, question {n}"
        if not isinstance(item, dict) or set(item) - {"id", "text", "type", "options"}:
            raise ConfigError(f"{qwhere}: must be a mapping of id, text, type (and options)")
        qid = item.get("id")
        if not isinstance(qid, str) or not _ID.match(qid) or qid in _RESERVED:
            raise ConfigError(
                f"{qwhere}, key 'id': {qid!r} must be lower-case letters, digits and _ "
                f"(not {', '.join(sorted(_RESERVED))})"
            )
        if any(q.id == qid for q in questions):
            raise ConfigError(f"{qwhere}, key 'id': {qid!r} is used twice")
        kind = item.get("type")
        if kind not in QUESTION_TYPES:
            raise ConfigError(f"{qwhere}, key 'type': {kind!r} is not one of {QUESTION_TYPES}")
        options: tuple[str, ...] = ()
        if kind == "choice":
            raw_options = item.get("options")
            if (
                not isinstance(raw_options, list)
                or not 2 <= len(raw_options) <= 9
                or not all(isinstance(o, str) and o.strip() for o in raw_options)
            ):
                raise ConfigError(f"{qwhere}, key 'options': a choice needs 2 to 9 options")
            options = tuple(" ".join(o.lower().split()) for o in raw_options)
            if len(set(options)) != len(options):
                raise ConfigError(f"{qwhere}, key 'options': an option is listed twice")
        elif "options" in item:
            raise ConfigError(f"{qwhere}, key 'options': only a 'choice' question has options")
        questions.append(
            Question(qid, _text(item.get("text"), f"{qwhere}, key 'text'"), kind, options)
        )
    return SurveyScript(opening, consent, tuple(questions))
