"""Keypad feature codes an agent dials from their own registered phone: pause and resume.

The agent dials ``acd.pause_code`` (``*41``) or ``acd.resume_code`` (``*42``) from the phone
registered as their ``sip_user``. Kamailio authenticates that INVITE (digest, the agent's
password, :mod:`voicebot.telephony.agentauth`) and passes it to a worker with the agent in
``X-Voicebot-Agent``; the worker answers, changes the agent's state on the board, speaks a
short confirmation and hangs up::

    if await feature_call(call, roster, board, speak):
        return  # it was an agent's code, not a customer's call
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Awaitable, Callable

from voicebot.center.agents import AgentRoster
from voicebot.center.board_api import Board, board_clock
from voicebot.telephony.callio import CallIO

log = logging.getLogger(__name__)

Speak = Callable[[str], Awaitable[bytes]]
"""Text to PCM16 mono 8 kHz bytes, the bot's voice."""

PAUSED = "You are paused. No calls will be offered to you until you resume."
NOT_PAUSED = "You could not be paused: you are on a call."
RESUMED = "You are available. The next call can be yours."
NOT_RESUMED = "You could not be made available: your phone is not registered, or you are on a call."
NOT_AN_AGENT = "This code is for agents' phones only. Goodbye."


def dialled_code(called_uri: str) -> str:
    """The user part of the Request-URI (``sip:*41@10.0.0.1`` -> ``*41``), unescaped."""
    uri = called_uri.strip("<>")
    user = uri.split(":", 1)[-1].split("@", 1)[0] if "@" in uri else ""
    return urllib.parse.unquote(user.split(";", 1)[0])


async def feature_call(call: CallIO, roster: AgentRoster, board: Board, speak: Speak) -> bool:
    """Serve ``call`` if it dials a feature code (then True: the call is over), else False.

    The agent is the one Kamailio authenticated (``X-Voicebot-Agent``, present only on an
    INVITE that came through the proxy, with ``X-Voicebot-Source``).
    """
    code = dialled_code(call.details.called_uri)
    action = {roster.acd.pause_code: "pause", roster.acd.resume_code: "resume"}.get(code)
    if action is None:
        return False
    headers = call.details.headers
    user = headers.get("x-voicebot-agent", "") if "x-voicebot-source" in headers else ""
    agent = roster.by_sip_user(user) if user else None
    now = board_clock(board)  # wall clock on a shared (Redis) board
    if agent is None:
        text = NOT_AN_AGENT
        log.info("call %s: feature code %s from no agent's phone", call.details.call_id, code)
    elif action == "pause":
        board.pause(agent.key, now)
        state = next(s.state for s in board.status(now) if s.key == agent.key)
        text = PAUSED if state == "paused" else NOT_PAUSED
        log.info("agent %s paused from their phone (now %s)", agent.key, state)
    else:
        board.resume(agent.key, now)
        state = next(s.state for s in board.status(now) if s.key == agent.key)
        text = RESUMED if state == "available" else NOT_RESUMED
        log.info("agent %s resumed from their phone (now %s)", agent.key, state)
    try:
        await call.play(await speak(text))
    finally:
        await call.hangup()
    return True
