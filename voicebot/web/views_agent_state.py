"""The agent's own ACD state on their dashboard page: shown, and paused or resumed with a
button (``POST /agent/state``, CSRF-checked).

A dashboard user whose name is an agent key of ``agents.yml`` is that agent. A supervisor
may set any agent's state (form field ``agent``). The state lives on the host's agent board
(:class:`~voicebot.center.board_api.Board`: SQLite on one host, Redis across hosts), the
same one the call workers use; times are on the board's own clock
(:func:`~voicebot.center.board_api.board_clock`), as in the workers.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from voicebot.center.board import AgentStatus
from voicebot.center.board_api import Board, board_clock
from voicebot.web.auth import Login
from voicebot.web.common import blocking, dash, require_post
from voicebot.web.html import csrf_field, h

STATE_TEXT = {
    "offline": "offline (phone not registered)",
    "available": "available",
    "ringing": "ringing",
    "busy": "on a call",
    "wrap_up": "in wrap-up",
    "paused": "paused",
    "missed": "paused after a missed call",
}


def _status(board: Board, key: str) -> AgentStatus | None:
    return next((s for s in board.status(board_clock(board)) if s.key == key), None)


def agent_key(request: web.Request, board: Any) -> str | None:
    """The ACD agent the logged-in dashboard user is (None: no board, or not an agent)."""
    from voicebot.web.common import require

    login = require(request)
    if board is None or login.user.name not in board.roster.agents:
        return None
    return str(login.user.name)


def ringing_call(board: Board, key: str) -> str | None:
    """The call the agent's phone rings for now, if it rings."""
    status = _status(board, key)
    if status is None or status.state != "ringing":
        return None
    return status.current_call


async def state_box(request: web.Request, login: Login) -> str:
    """The agent's state and the pause / resume button ("" when the user is no agent)."""
    board = dash(request).board
    if board is None or login.user.name not in board.roster.agents:
        return ""
    status = await blocking(_status, board, login.user.name)
    if status is None:
        return ""
    paused = status.state in ("paused", "missed")
    action, label = ("resume", "Resume: take calls") if paused else ("pause", "Pause")
    return (
        f'<form id="agent-state" class="filters" method="post" action="/agent/state"'
        f' data-state="{h(status.state)}">{csrf_field(login)}'
        f"Your state: <b>{h(STATE_TEXT.get(status.state, status.state))}</b> "
        f'<input type="hidden" name="action" value="{action}">'
        f'<button type="submit">{h(label)}</button></form>'
    )


async def set_state(request: web.Request) -> web.Response:
    """Pause or resume the logged-in agent (a supervisor: the agent named in the form)."""
    login, form = await require_post(request)
    board = dash(request).board
    if board is None:
        raise web.HTTPNotFound(text="The built-in ACD is off (sip.acd).")
    key = str(form.get("agent") or "") if login.user.is_supervisor else login.user.name
    if key not in board.roster.agents:
        raise web.HTTPForbidden(text="You are no agent of the built-in ACD.")
    action = str(form.get("action") or "")
    if action == "pause":
        await blocking(board.pause, key, board_clock(board))
    elif action == "resume":
        await blocking(board.resume, key, board_clock(board))
    else:
        raise web.HTTPBadRequest(text="action must be pause or resume.")
    raise web.HTTPSeeOther("/agent")
