"""The one yes/no interpreter (voicebot/yes_no.py): a table of ASR-style answers.

The forms come from issue 10 ("Know that's wrong.", "now", "nah", "no no", "yeah no",
"not really") and from what Whisper tiny.en writes for short answers on a phone line.
"""

from __future__ import annotations

import pytest

from voicebot.yes_no import interpret

TABLE = [
    # plain answers, with the punctuation and capitals Whisper adds
    ("Yes.", "yes"),
    ("yes yes", "yes"),
    ("Yeah, sure.", "yes"),
    ("Yep.", "yes"),
    ("yes please", "yes"),
    ("Sure, go ahead.", "yes"),
    ("That's right.", "yes"),
    ("Yes, that's correct.", "yes"),
    ("I think so, yes", "yes"),
    ("mm hmm", "yes"),
    ("uh huh", "yes"),
    ("um yeah", "yes"),
    ("that's fine", "yes"),
    ("I don't mind", "yes"),
    ("Yeah, that worked.", "yes"),
    # a plain yes leads, the recogniser garbled the rest ("yes that fixed it")
    ("Yes, not fixed.", "yes"),
    ("Yes, not six, it's on you.", "yes"),
    ("No.", "no"),
    ("No. No.", "no"),
    ("no no", "no"),
    ("Nope.", "no"),
    ("nah", "no"),
    ("uh no", "no"),
    ("no thank you", "no"),
    ("No, it didn't.", "no"),
    ("It did not.", "no"),
    # homophones of "no" at the start of an answer
    ("Know that's wrong.", "no"),
    ("Know, that's wrong.", "no"),
    ("know", "no"),
    ("Know thanks.", "no"),
    ("Now.", "no"),
    ("now now", "no"),
    ("Now, that's wrong.", "no"),
    ("No, now.", "no"),
    # discourse markers and negations
    ("yeah no", "no"),
    ("Yeah, no.", "no"),
    ("yes, no it's wrong", "no"),
    ("okay no thanks", "no"),
    ("yeah I don't think so", "no"),
    ("not really", "no"),
    ("Not really.", "no"),
    ("that is not correct", "no"),
    ("No, that's not right", "no"),
    ("absolutely not", "no"),
    ("no, that's fine", "no"),
    ("nah I'm good", "no"),
    # hedges and contradictions: ask again
    ("I don't know", "unsure"),
    ("maybe", "unsure"),
    ("Not sure.", "unsure"),
    ("no yes", "unsure"),
    ("yeah it's not working", "unsure"),
    ("no, that's right", "unsure"),
    # not a yes/no answer at all: "now" and "know" elsewhere are ordinary words
    ("I want an agent", "none"),
    ("now it's working", "none"),
    ("it's working again", "none"),
    ("I know.", "none"),
    ("1 2 3 4", "none"),
    ("", "none"),
]


@pytest.mark.parametrize(("text", "expected"), TABLE)
def test_interpret(text: str, expected: str) -> None:
    assert interpret(text) == expected


def test_configured_words_add_to_the_tables() -> None:
    assert interpret("ja") == "none"
    assert interpret("ja", yes_words=["ja"], no_words=["nee"]) == "yes"
    assert interpret("nee", yes_words=["ja"], no_words=["nee"]) == "no"
