"""An account number or PIN read in groups: the digits heard so far, held between pauses.

People read a number in groups and pause between them ("four seven two ... nine one ...
one eight three"), often for 1-2 s, longer than the endpoint that ends a caller's segment.
VoiceXML distinguishes the *complete* timeout (the answer holds everything asked for: end
at once) from the *incomplete* timeout (the caller is mid-number: wait much longer).
:class:`HeldNumber` is the incomplete side, pure and clock-free. :class:`voicebot.hearing.
Hearing` finishes each group's segment, and while the digits so far are fewer than the
dialog asked for (:func:`voicebot.numbers.partial_digit_answer`) it holds them here instead
of ending the turn. The next group is joined to the held ones at the audio level
(:func:`join_groups`: each group's speech, its long pause cut to ``JOIN_GAP_S``) and the
whole number is decoded again, told the full length: Whisper hears a string of digits
with short pauses better than a lone group of two or three (measured: bench/digit_gaps.py).
The turn ends once the whole decode is complete, holds something other than digits, or
``deadline_s`` (the incomplete timeout after the caller's last speech) passes in silence.

Told the length, Whisper fills it: three digits and a pause, decoded told "4 digits", come
back as four ("586" as "5865"), and the real fourth digit would become a new answer. So a
decode told the length that claims the number is complete is only believed when a decode
*not* told the length hears every digit too (:func:`confirms`); otherwise the number is
held as *unsure* (:attr:`HeldNumber.unsure`): the turn waits for more, and if nothing comes
the incomplete timeout ends it with the told-length text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from voicebot.asr.normalize import periodic
from voicebot.numbers import complete_digit_answer, partial_digit_answer, spoken_digits

JOIN_GAP_S = 0.2
"""Silence kept after each held group's last speech when groups are joined, s (the next
group brings its VAD pre-roll too): about the pause people leave inside a group."""


def in_progress(text: str, length: int) -> bool:
    """Whether ``text`` is plainly the start of a ``length``-digit answer: fewer digits and
    nothing else (:func:`~voicebot.numbers.partial_digit_answer`), or all of them but as a
    shorter run said twice ("7853 7853", "1 2 1 2"): Whisper tiny fills the asked length by
    repeating the first group of a number read in groups, so such an answer waits for more
    too (a caller who did say it twice waits one incomplete timeout)."""
    if partial_digit_answer(text, length) is not None:
        return True
    digits = complete_digit_answer(text, length)
    return digits is not None and periodic(digits)


def _squeezed(digits: str) -> str:
    """``digits`` with each run of one digit said again and again cut to one ("1199" -> "19")."""
    return "".join(d for i, d in enumerate(digits) if i == 0 or d != digits[i - 1])


def _group_count(text: str) -> int:
    """How many digits a group decoded on its own holds; one digit over and over counts
    once (Whisper doubles a lone digit: "four" heard as "44")."""
    digits = spoken_digits(text)
    return 1 if digits and len(set(digits)) == 1 else len(digits)


def confirms(told: str, whole: str, groups: list[str], length: int) -> bool:
    """Whether decodes NOT told the length back ``told``, a told-length decode that heard a
    complete ``length``-digit number. Told the length, Whisper fills a number the caller
    has not finished, most often with a digit from its start at the end ("5 8 6" and a
    pause heard as "5865", "4 3 2" as "4324"), and does so untold too when the digits have
    long pauses between them. ``whole``: the whole number decoded untold; ``groups``: each
    group (speech segment) decoded untold on its own, the one just spoken last (for a
    number in one segment, ``[whole]``). Confirmed when

    * the group just spoken holds the digit ``told`` ends with (a fill adds a digit the
      caller did not say last; untold, Whisper may run on after it: "4065" as "40654"), and
    * the untold decodes hold every digit: ``whole`` holds at least ``length`` digits and
      is not plainly the start of the number (:func:`in_progress`; more digits than asked
      for count: Whisper runs on after the last digit), or the groups hold ``length``
      together (each counted by :func:`_group_count`), or, for a number in one segment,
      ``whole`` is ``told`` with a doubled digit said once (untold, Whisper drops the
      second of "9 9": "1199" heard as "119").
    """
    told_digits = spoken_digits(told)
    last = spoken_digits(groups[-1]) if groups else spoken_digits(whole)
    if not told_digits or told_digits[-1] not in last:
        return False
    heard = spoken_digits(whole)
    if len(heard) >= length and not in_progress(whole, length):
        return True
    if len(groups) > 1:
        return sum(_group_count(text) for text in groups) >= length
    return bool(heard) and _squeezed(heard) == _squeezed(told_digits)


def last_group_tail(
    told: str,
    groups: list[str],
    length: int,
    confirmed: bool = False,
    told_confidence: float = 1.0,
    last_confidence: float = 0.0,
) -> str | None:
    """The number as the groups heard it when ``told`` (a told-length decode of every group
    joined, a complete ``length``-digit number) agrees with the earlier groups but not with
    the group just spoken; None when there is nothing to mend.

    Told the length, the decode of the joined groups ends otherwise than the caller did
    ("67 ... 69" heard as "6789", "8 4 1 3" as "8412"; tuning set of bench/digit_gaps.py,
    PINs at 2.0 s), while the group just spoken, decoded untold on its own, holds the
    digits the caller said. ``groups``: each group decoded untold on its own, the one just
    spoken last (``last_confidence``: its confidence, 0..1). The groups' digits are the
    answer when, joined, they hold exactly ``length`` digits, ``told`` starts with the
    earlier groups' digits (the decodes agree up to the last group: when they differ
    earlier, as "52 92" for "9292", which is right is not known, and ``told`` stands), it
    ends otherwise than the last group, and either ``told`` was not ``confirmed`` by the
    untold decodes (:func:`confirms`: its last digit is not in the last group, "8412" and
    "3") or the last group's decode is surer than ``told``'s (``told_confidence``): a
    lone group decoded on its own can be wrong too ("92" heard as "52" at 0.44 where the
    joined "6892" was right at 0.61; tuning set). A last group heard as one digit said
    again and again is not counted on: Whisper doubles a lone digit ("4 7 9" heard as "4",
    "7", "99" mended "4794" to "4799"; found on the reporting set of bench/digit_gaps.py,
    PINs at 1.5 s, after its run)."""
    told_digits = spoken_digits(told)
    if len(groups) < 2 or len(told_digits) != length:
        return None
    earlier = "".join(spoken_digits(text) for text in groups[:-1])
    last = spoken_digits(groups[-1])
    heard = earlier + last
    if not last or len(heard) != length or heard == told_digits:
        return None
    if len(last) > 1 and len(set(last)) == 1:
        return None  # a lone digit doubled ("nine" as "99", :func:`_group_count`)?
    if not told_digits.startswith(earlier):
        return None
    return heard if not confirmed or last_confidence > told_confidence else None


def join_groups(
    groups: list[tuple[npt.NDArray[np.int16], float]], rate: int, gap_s: float = JOIN_GAP_S
) -> npt.NDArray[np.int16]:
    """The audio of held groups as one utterance: each group's samples up to ``gap_s``
    after its speech ends (``(samples, speech_end_s)``, the end in seconds from the
    group's first sample), one after another, so the long pauses between groups shrink
    to a short one. ``rate``: the samples' rate, Hz."""
    parts = [a[: max(0, int(round((end + gap_s) * rate)))] for a, end in groups]
    return np.concatenate(parts) if parts else np.zeros(0, np.int16)


@dataclass
class HeldNumber:
    """The groups of a number heard so far (see the module docstring).

    Attributes:
        length: how many digits the dialog asked for.
        timeout_s: the incomplete timeout: how long the caller may stay silent after a
            group before the turn ends with what was heard, s.
        start_s: start of the first group's speech, s (session time).
        end_s: end of the last group's speech, s.
        text: the transcript of every group so far, decoded as one answer.
        confidence: its ASR confidence, 0..1.
        groups: how many groups were heard.
        speaking: a later group's segment is open (the deadline does not run).
        fallback: what the first group was heard as when that was not plainly digits
            (a lone digit to the PIN question heard as a word: "Please." for "three"):
            the turn's answer, with its confidence, if no other group follows.
        unsure: the decode told the length holds every digit but one not told it does
            not (:func:`confirms`): the number may have been filled up, so it waits
            like an incomplete one.
    """

    length: int
    timeout_s: float
    start_s: float
    end_s: float
    text: str
    confidence: float
    groups: int = 1
    speaking: bool = False
    fallback: tuple[str, float] | None = None
    unsure: bool = False

    def answer(self) -> tuple[str, float]:
        """The turn's text and confidence if it ended now."""
        if self.groups == 1 and self.fallback is not None:
            return self.fallback
        return self.text, self.confidence

    @property
    def deadline_s(self) -> float | None:
        """When the turn ends with what was heard if the caller says nothing more, s;
        None while a later group is being spoken."""
        return None if self.speaking else self.end_s + self.timeout_s

    def add(self, text: str, confidence: float, end_s: float, unsure: bool = False) -> None:
        """A later group ended (``end_s``: end of its speech, s); ``text``/``confidence``:
        the decode of all groups together (``unsure``: see the class docstring). A group
        that heard nothing (a cough in the pause: ``text`` empty) changes nothing, not even
        the deadline."""
        self.speaking = False
        if not text.strip():
            return
        self.text, self.confidence, self.unsure = text, confidence, unsure
        self.end_s = max(self.end_s, end_s)
        self.groups += 1

    def incomplete(self) -> bool:
        """Whether what was heard is still plainly the start of the number
        (:func:`in_progress`), or complete only as told the length (:attr:`unsure`)."""
        return self.unsure or in_progress(self.text, self.length)

    def due(self, now_s: float) -> bool:
        """Whether the incomplete timeout has run out at ``now_s``."""
        deadline = self.deadline_s
        return deadline is not None and now_s >= deadline


def start_hold(
    text: str,
    confidence: float,
    start_s: float,
    end_s: float,
    length: int,
    timeout_s: float,
    unsure: bool = False,
) -> HeldNumber | None:
    """A :class:`HeldNumber` for a finished segment whose transcript ``text`` is plainly
    the start of a ``length``-digit answer (:func:`in_progress`), or a whole one that a
    decode not told the length did not confirm (``unsure``); None when it is neither
    (complete, too long, words, nothing) or the timeout is off (``timeout_s`` <= 0)."""
    if timeout_s <= 0 or length <= 1:
        return None
    if unsure and complete_digit_answer(text, length) is not None:
        return HeldNumber(length, timeout_s, start_s, end_s, text, confidence, unsure=True)
    if not in_progress(text, length):
        return None
    return HeldNumber(length, timeout_s, start_s, end_s, text, confidence)


def tentative_hold(
    free_text: str,
    free_confidence: float,
    digits_text: str,
    digits_confidence: float,
    start_s: float,
    end_s: float,
    length: int,
    timeout_s: float,
    min_confidence: float,
) -> HeldNumber | None:
    """A hold for a short answer to a question that takes digits or words (the PIN or
    date-of-birth question) that the free decode heard as a word or two but a digits decode
    hears as the start of the number (``digits_text``, with at least ``min_confidence``):
    held like digits, but it stays ``free_text`` if no other group follows. None when the
    free text is already a number or more than two words."""
    if len(free_text.split()) > 2 or digits_confidence < min_confidence:
        return None
    held = start_hold(digits_text, digits_confidence, start_s, end_s, length, timeout_s)
    if held is not None:
        held.fallback = (free_text, free_confidence)
    return held
