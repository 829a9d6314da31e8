"""One outbound survey call: the opening, consent, the campaign's questions, the end.

:func:`run_survey` is what the dialer's SIP callee calls once a person (not a machine) has
answered. It drives the same per-call pipeline as an inbound call (VAD, ASR, turns, the
Rasa dialog, TTS) over ``line``, but starts the dialog with the campaign's survey intent
(``spec.dialog``, e.g. ``survey_csat``) instead of the inbound greeting. The survey itself
is the Rasa form ``survey_form`` (``dialogs/``); its validation action types each answer
(:mod:`voicebot.center.campaigns.answers`) and reports it the moment it is confirmed, so
``answer(question_id, value)`` is called as the call goes on: a callee who hangs up
mid-survey keeps the answers given so far.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from voicebot.center.campaigns.spec import CampaignSpec
from voicebot.center.campaigns.store import DueContact
from voicebot.line import Line

if TYPE_CHECKING:
    from voicebot.pipeline import Pipeline


@dataclass
class SurveyEnd:
    """How one survey call ended.

    Attributes:
        consented: the callee agreed to take the survey.
        completed: every question was answered.
        callback_at: the callee asked to be called back then (epoch s), else None.
        opted_out: the callee asked never to be called again (add to do-not-call).
        answers: question id -> typed answer (``"4"``, ``"yes"``, a choice, a comment), as
            confirmed; also ``consent`` -> ``yes``/``no``.
    """

    consented: bool = False
    completed: bool = False
    callback_at: float | None = None
    opted_out: bool = False
    answers: dict[str, str] = field(default_factory=dict)


async def run_survey(
    line: Line,
    pipeline: Pipeline,
    spec: CampaignSpec,
    contact: DueContact,
    answer: Callable[[str, str], None],
) -> SurveyEnd:
    """Run the survey of ``spec`` with ``contact`` on an answered ``line``; returns when the
    survey ends (the bot hangs up) or the callee hangs up.

    Args:
        line: the answered call (SIP or simulated), see :class:`voicebot.line.Line`.
        pipeline: the loaded or connected :class:`voicebot.pipeline.Pipeline` (the same
            object inbound calls use: ``Pipeline.load()`` or ``Pipeline.connect()``).
        spec: the campaign (its ``opening``, consent question and ``questions``).
        contact: who is called (name, time zone for the callback time).
        answer: called as ``answer(question_id, value)`` when each answer is confirmed
            (and ``answer("consent", "yes"|"no")``); the dialer stores it at once.

    Returns:
        :class:`SurveyEnd`. Never raises for a call problem the caller could cause.
    """
    raise NotImplementedError("run_survey: contract only, implementation follows")
