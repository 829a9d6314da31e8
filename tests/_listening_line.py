"""A simulated phone line whose callee listens: the simulated-line twin of the SIP listening
respondent (tests/sip/survey_respondent.py), for survey calls run with ``run_survey``.

Whenever the bot waits for the callee, the bot audio laid on the line since the callee last
spoke is decoded with Whisper (the respondent's own engine), taken for what it asked
(:func:`tests.sip.listening.what_was_asked`), and the callee answers THAT question with its
recording for it (its second take when asked again), answers a read-back truthfully, hangs
up when asked something it has no answer for (``hang_up``), or waits for the bot to hang up
after the goodbye. A bot turn it cannot place gets silence (as a puzzled person would).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tests.sip.survey_respondent import Respondent, _decode, _wav
from voicebot.center.campaigns.questions import SurveyScript
from voicebot.line import HungUp, LineInput
from voicebot.replay.cases import CallerCase, Expectation
from voicebot.replay.simline import SimulatedLine

MAX_CALL_S = 300.0
"""The callee hangs up after this long on the line's clock, s."""
WAIT_STEP_S = 0.5
"""Silence the callee lets pass at a time while the bot says nothing, s."""


def listening_case(name: str) -> CallerCase:
    """The (empty) caller case a :class:`ListeningLine` carries for its name."""
    return CallerCase(name, Path(name), f"listening respondent {name}", (), Expectation())


@dataclass
class ListeningLine(SimulatedLine):
    """A :class:`SimulatedLine` whose callee is a listening respondent (module docstring)."""

    survey: SurveyScript = field(default_factory=SurveyScript)
    script: dict[str, Any] = field(default_factory=dict)
    heard: list[tuple[str, str, str]] = field(default_factory=list)
    """Per bot turn: what Whisper heard, what it was taken for, the reply."""

    async def inputs(self) -> AsyncIterator[LineInput]:
        respondent = Respondent(self.survey, self.script)
        gap = int(self.gap_s * self.rate)
        heard_from = 0
        while not self._ended and self._pos < MAX_CALL_S * self.rate:
            await self._bot_done()
            if self._play_end <= heard_from:  # the bot has said nothing new: time passes
                async for item in self._advance(None, int(WAIT_STEP_S * self.rate)):
                    yield item
                continue
            if self._pos < self._play_end + gap:  # the bot speaks: listen to its end + a pause
                async for item in self._silence_until(self._play_end + gap):
                    yield item
                continue  # it may have gone on meanwhile
            bot = self.bot_audio()[heard_from : self._play_end]
            text = _decode(bot.astype("<i2").tobytes())[0]
            asked = respondent.hear(text)
            reply = respondent.reply(asked)
            self.heard.append((text, asked.question_id or asked.kind, Path(reply).stem))
            if reply == "hang_up":
                break
            if reply == "wait":  # the goodbye: the bot hangs up
                async for item in self._advance(None, int(self.tail_s * self.rate)):
                    yield item
                break
            heard_from = self._play_end
            if reply:
                audio = np.frombuffer(_wav(reply), dtype="<i2").astype(np.int16)
                async for item in self._advance(audio, len(audio)):
                    yield item
                # the bot may answer during the trailing silence: listen from here
                heard_from = max(heard_from, self._pos)
                async for item in self._advance(None, int(self.trailing_s * self.rate)):
                    yield item
        if not self._ended:
            yield HungUp(self.now())
