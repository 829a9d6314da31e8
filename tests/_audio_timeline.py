"""A virtual clock for the turn state machine: runs a scripted timeline of inputs.

Between two scripted inputs it Ticks at every deadline the machine announces, exactly as a
call session would, so a minute of call runs in microseconds and always the same way.
"""

from __future__ import annotations

from collections.abc import Iterable

from voicebot.events import Tick, TurnInput, TurnOutput
from voicebot.turns import TurnTaker


def run_timeline(taker: TurnTaker, script: Iterable[TurnInput], until_s: float) -> list[TurnOutput]:
    """Feed ``script`` (sorted by time) to ``taker``, ticking at its deadlines until ``until_s``.

    Raises AssertionError if a due timer does not move on (a stuck state machine).
    """
    out: list[TurnOutput] = []
    events = sorted(script, key=lambda e: e.time_s)
    for event in [*events, Tick(until_s)]:
        while True:
            deadline = taker.next_deadline()
            if deadline is None or deadline > event.time_s:
                break
            before = len(out)
            out.extend(taker.handle(Tick(deadline)))
            if len(out) == before and taker.next_deadline() == deadline:
                raise AssertionError(f"deadline {deadline} did not advance")
        out.extend(taker.handle(event))
    return out
