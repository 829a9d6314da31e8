"""Simulated respondents for tests and ``bench/campaign.py``: each contact behaves by a
seeded draw (a person who answers every question, a busy line, no answer, an answering
machine, a hang-up mid-survey, "call me later", "don't call me again").

No SIP and no speech: this drives the real dialer and the real campaign store on a virtual
clock (:func:`voicebot.center.simulation.run_virtual`) to check pacing, retries, windows and
crash safety at the scale of thousands of contacts. What a respondent would answer is kept
per contact, so a test can check that every recorded answer is the one given.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from voicebot.center.campaigns.dialer import CallOutcome
from voicebot.center.campaigns.spec import CampaignSpec
from voicebot.center.campaigns.store import DueContact

QUESTIONS = (
    ("satisfaction", [str(i) for i in range(1, 6)]),
    ("recommend", [str(i) for i in range(11)]),
    ("resolved", ["yes", "no"]),
    ("channel", ["phone", "web", "shop"]),
)
BEHAVIOURS = {
    "completes": 0.45,
    "busy": 0.1,
    "no_answer": 0.15,
    "machine": 0.1,
    "hangs_up": 0.08,
    "later": 0.05,
    "opt_out": 0.04,
    "refuses": 0.03,
}


@dataclass
class Respondents:
    """Callees by seed; ``answers_given`` holds what each phone number said (for checks).

    Attributes:
        seed: draws are ``Random(seed, phone)``: the same contact behaves the same way on
            every run; each attempt is a new draw (a busy line may answer the next time).
        question_s: seconds per question (speech, ASR, dialog, TTS).
        ring_s: seconds until a person answers, or the no-answer timeout.
        epoch: the dialer's epoch (added to the loop clock) for booked callback times.
        concurrent: calls in progress now; peak: the most at once.
    """

    seed: int = 1
    epoch: float = 0.0
    question_s: float = 9.0
    ring_s: float = 8.0
    answers_given: dict[str, dict[str, str]] = field(default_factory=dict)
    concurrent: int = 0
    peak: int = 0
    calls: dict[str, int] = field(default_factory=dict)

    def behaviour(self, phone: str, attempt: int) -> str:
        rng = random.Random(f"{self.seed}:{phone}:{attempt}")
        pick = rng.random()
        total = 0.0
        for name, share in BEHAVIOURS.items():
            total += share
            if pick < total:
                return name
        return "completes"

    async def __call__(
        self, contact: DueContact, spec: CampaignSpec, answer: Callable[[str, str], None]
    ) -> CallOutcome:
        self.calls[contact.phone] = self.calls.get(contact.phone, 0) + 1
        self.concurrent += 1
        self.peak = max(self.peak, self.concurrent)
        try:
            return await self._call(contact, spec, answer)
        finally:
            self.concurrent -= 1

    async def _call(
        self, contact: DueContact, spec: CampaignSpec, answer: Callable[[str, str], None]
    ) -> CallOutcome:
        kind = self.behaviour(contact.phone, contact.attempt_no)
        rng = random.Random(f"{self.seed}:{contact.phone}:answers")
        if kind == "busy":
            await asyncio.sleep(0.5)
            return CallOutcome("busy", "486")
        if kind == "no_answer":
            await asyncio.sleep(30.0)
            return CallOutcome("no_answer", "timeout 30 s")
        await asyncio.sleep(self.ring_s * rng.random())
        if kind == "machine":
            await asyncio.sleep(12.0)  # greeting, beep, message or hang-up
            return CallOutcome("machine", spec.machine_action)
        await asyncio.sleep(self.question_s)  # opening and the consent question
        given = self.answers_given.setdefault(contact.phone, {})
        if kind == "refuses":
            given["consent"] = "no"
            answer("consent", "no")
            return CallOutcome("answered", "no consent")
        if kind == "opt_out":
            return CallOutcome("answered", "do not call", opted_out=True)
        if kind == "later":
            return CallOutcome(
                "answered",
                "call me later",
                callback_at=self.epoch + asyncio.get_running_loop().time() + 7200,
            )
        given["consent"] = "yes"
        answer("consent", "yes")
        stop = rng.randrange(1, len(QUESTIONS)) if kind == "hangs_up" else len(QUESTIONS)
        for question, options in QUESTIONS[:stop]:
            await asyncio.sleep(self.question_s)
            value = rng.choice(options)
            given[question] = value
            answer(question, value)
        if kind == "hangs_up":
            return CallOutcome("answered", "hung up mid-survey")
        given["completed"] = "yes"
        answer("completed", "yes")
        return CallOutcome("answered", "completed")
