"""A keypad-only survey: the stand-in a dialer process runs for a person until the spoken
survey dialog (``survey_call.run_survey``, the Rasa ``survey_form``) is there.

Consent (1 yes, 2 call me later, 9 never call again, else no), then the four questions of
:data:`QUESTIONS`, each answered with keypad digits ended by ``#`` (or a pause). Every answer
goes to ``answer(question, value)`` the moment it is given, so a callee who hangs up
mid-survey keeps the answers given so far. Prompts are spoken with the dialer's TTS.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from voicebot.telephony.callio import CallIO

INTER_DIGIT_S = 2.0
"""Seconds after a key without ``#`` that end an answer."""
CALLBACK_AFTER_S = 7200.0
"""A callee who asks to be called later is called back this long after (s)."""

YES_NO = {"1": "yes", "2": "no"}
CHANNELS = {"1": "phone", "2": "web", "3": "shop"}
QUESTIONS: tuple[tuple[str, str, dict[str, str] | None], ...] = (
    ("satisfaction", "How satisfied are you with our service, from 1 to 5?", None),
    ("recommend", "From 0 to 10, how likely are you to recommend us? Press hash after it.", None),
    ("resolved", "Was your last question resolved? Press 1 for yes, 2 for no.", YES_NO),
    ("channel", "Do you contact us by phone, 1, web, 2, or in a shop, 3?", CHANNELS),
)
VALID = {"satisfaction": {str(i) for i in range(1, 6)}, "recommend": {str(i) for i in range(11)}}
CONSENT = (
    "Hello, this is Brightline Energy and Telecom with a short survey about our service."
    " Press 1 to take part, 2 to be called back later, or 9 never to be called again."
)


@dataclass
class KeypadEnd:
    """How the keypad survey ended (the fields of ``survey_call.SurveyEnd``)."""

    consented: bool = False
    completed: bool = False
    callback_at: float | None = None
    opted_out: bool = False
    answers: dict[str, str] = field(default_factory=dict)


async def read_keys(io: CallIO, wait_s: float) -> str | None:
    """Digits up to ``#`` or a pause; "" when nothing came in ``wait_s``; None: hung up."""
    keys = ""
    deadline = wait_s
    while True:
        get = asyncio.ensure_future(io.dtmf.get())
        closed = asyncio.ensure_future(io.closed.wait())
        try:
            done, _ = await asyncio.wait(
                {get, closed}, timeout=deadline, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            closed.cancel()
            if not get.done():
                get.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await get
        if get in done:
            digit = get.result().digit
            if digit == "#":
                return keys
            keys += digit
            deadline = INTER_DIGIT_S
            continue
        if closed in done:
            return keys or None
        return keys


async def keypad_survey(
    io: CallIO, speak: Callable[[str], bytes], answer: Callable[[str, str], None], wait_s: float
) -> KeypadEnd:
    """Run the keypad survey on an answered call (see the module docstring)."""
    loop = asyncio.get_running_loop()
    end = KeypadEnd()

    async def ask(text: str, question: str, mapping: dict[str, str] | None) -> str | None:
        for attempt in range(2):
            prompt = text if attempt == 0 else "Sorry, I did not get that. " + text
            pcm = await loop.run_in_executor(None, speak, prompt)
            await io.play(pcm)
            keys = await read_keys(io, wait_s)
            if keys is None:
                return None
            value = mapping.get(keys) if mapping is not None else keys
            if value is not None and (question not in VALID or value in VALID[question]):
                return value
        return ""

    consent = await ask(CONSENT, "consent", {"1": "yes", "2": "later", "9": "never"})
    if consent is None or consent == "":
        return end
    if consent == "later":
        end.callback_at = time.time() + CALLBACK_AFTER_S
        await io.play(await loop.run_in_executor(None, speak, "We will call you later. Goodbye."))
        return end
    if consent == "never":
        end.opted_out = True
        await io.play(await loop.run_in_executor(None, speak, "We will not call again. Goodbye."))
        return end
    end.consented = True
    end.answers["consent"] = "yes"
    answer("consent", "yes")
    for question, text, mapping in QUESTIONS:
        value = await ask(text, question, mapping)
        if value is None:
            return end  # hung up: the answers so far are kept
        if value:
            end.answers[question] = value
            answer(question, value)
    end.completed = True
    answer("completed", "yes")
    await io.play(await loop.run_in_executor(None, speak, "Thank you for your answers. Goodbye."))
    return end
