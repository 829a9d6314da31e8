"""Ringing an ACD agent from a caller's call: ring, whisper to the agent alone, then join.

:func:`ring_agent` is what :meth:`CallIO.ring_agent <voicebot.telephony.callio.CallIO.
ring_agent>` runs. The line (:mod:`voicebot.telephony.transfers`) calls the agent's phone;
when the agent answers, their leg gets a :class:`~voicebot.telephony.callio.CallIO` of its
own (audio to and digits from the agent only), the whisper is played there while the caller
keeps hearing whatever the handler plays them, and only then are the two legs joined. The
agent may refuse with a key during the whisper. Audio is PCM16 mono 8 kHz; times are s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from voicebot.telephony.callio import FRAME_MS, CallIO, RingResult, TransferResult


async def ring_agent(
    call: CallIO,
    uri: str,
    headers: Mapping[str, str] | None = None,
    whisper: bytes = b"",
    timeout_s: float = 15.0,
    *,
    refuse_key: str = "*",
) -> RingResult:
    """Ring an agent, whisper to them, then join them with the caller.

    Args:
        call: the caller's call.
        uri: the agent's SIP URI (``sip:alice@proxy:5060``: Kamailio finds the phone).
        headers: context on the INVITE (``X-Voicebot-*``), free of secrets.
        whisper: PCM16 mono 8 kHz played to the agent only once they answer; the caller
            keeps hearing what the handler plays them (comfort audio, silence).
        timeout_s: ring this long before giving up (CANCEL), s.
        refuse_key: the agent pressing this during the whisper refuses the call.

    Returns ``answered`` (caller and agent joined: the bot's audio and ``call.audio`` stop;
    :meth:`CallIO.wait_closed` waits for the end of the call), ``missed`` (no answer in
    time, 408/480/487), ``refused`` (the key, a hang-up during the whisper, 486/600/603) or
    ``failed`` (any other failure, or the caller hung up).
    """
    result = await call.start_ring(uri, headers or {}, timeout_s)
    agent = call.agent
    if result is not TransferResult.ACCEPTED or agent is None:
        call.agent = None
        if result is TransferResult.NO_ANSWER and not call.agent_code:
            return "missed"  # our own timeout
        return ring_failure(call.agent_code, call.closed.is_set())
    outcome = await _whisper(call, agent, whisper, refuse_key)
    call.agent = None
    if outcome == "answered" and call.join_agent():
        return "answered"
    call.drop_agent()
    return "failed" if outcome == "answered" else outcome


async def _whisper(call: CallIO, agent: CallIO, whisper: bytes, refuse_key: str) -> RingResult:
    """Play ``whisper`` to the agent's leg; stop at the refuse key or a hang-up."""
    play = agent.play(whisper)
    try:
        while not play.done():
            await asyncio.wait({play}, timeout=FRAME_MS / 1000)
            if call.closed.is_set():
                return "failed"
            if agent.closed.is_set():
                return "refused"
            while not agent.dtmf.empty():
                if agent.dtmf.get_nowait().digit == refuse_key:
                    return "refused"
    finally:
        agent.stop_playback()
    if call.closed.is_set():
        return "failed"
    return "refused" if agent.closed.is_set() else "answered"


def ring_failure(code: int, caller_gone: bool) -> RingResult:
    """The ring result of an agent call that ended unanswered with SIP status ``code``."""
    if caller_gone:
        return "failed"
    if code in (408, 480, 487):
        return "missed"
    if code in (486, 600, 603):
        return "refused"
    return "failed"
