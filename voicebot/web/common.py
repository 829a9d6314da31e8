"""What every dashboard view needs: the app's state, the logged-in user, CSRF checks,
date ranges from the query string, and running blocking database calls off the loop."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from aiohttp import web

from voicebot.config import Settings, section_to
from voicebot.messages import MessageStore
from voicebot.paths import var_dir
from voicebot.records.store import RecordsConfig, RecordStore, utcnow
from voicebot.web.auth import Login, Sessions, UserDirectory, same_token

T = TypeVar("T")
SESSION_COOKIE = "vb_session"
LOGIN_CSRF_COOKIE = "vb_login_csrf"


@dataclass(frozen=True)
class DashboardConfig:
    """The ``dashboard`` settings section."""

    address: str = "127.0.0.1"
    port: int = 8480
    users_file: str = "dashboard-users.yml"
    session_idle_s: float = 28800.0
    review_below: float = 0.5
    not_understood: tuple[str, ...] = ("nlu_fallback", "out_of_scope")
    live_interval_s: float = 1.0
    with_serve: bool = False

    def users_path(self) -> Path:
        path = Path(self.users_file)
        return path if path.is_absolute() else var_dir() / path


def dashboard_config(settings: Settings) -> DashboardConfig:
    return section_to(DashboardConfig, settings, "dashboard")


@dataclass
class Dashboard:
    """Everything the views share (``app["dash"]``)."""

    store: RecordStore
    messages: MessageStore
    users: UserDirectory
    sessions: Sessions
    cfg: DashboardConfig
    records_cfg: RecordsConfig
    department_names: dict[str, str]
    board: Any = None
    """The host's ACD agent board (:class:`voicebot.center.board.AgentBoard`) with
    ``sip.acd``, for the agents' pause / resume button; None otherwise."""


def dash(request: web.Request) -> Dashboard:
    return request.app["dash"]


async def blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking (database) call in the default executor."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(fn, *args, **kwargs))


def current_login(request: web.Request) -> Login | None:
    return dash(request).sessions.get(request.cookies.get(SESSION_COOKIE))


def require(request: web.Request, *, supervisor: bool = False) -> Login:
    """The login of this request; redirects to the login page (or 403 for an agent on a
    supervisor's page)."""
    login = current_login(request)
    if login is None:
        target = f"/login?next={quote(request.path_qs)}" if request.method == "GET" else "/login"
        raise web.HTTPSeeOther(target)
    if supervisor and not login.user.is_supervisor:
        raise web.HTTPForbidden(text="This page is for supervisors.")
    return login


async def require_post(request: web.Request, *, supervisor: bool = False) -> tuple[Login, Any]:
    """A logged-in POST with the right CSRF token; returns the login and the form."""
    login = require(request, supervisor=supervisor)
    form = await request.post()
    if not same_token(str(form.get("csrf") or ""), login.csrf):
        raise web.HTTPForbidden(text="Missing or wrong CSRF token: reload the page and retry.")
    return login, form


def parse_range(request: web.Request) -> tuple[date, date, datetime, datetime]:
    """``from``/``to`` (YYYY-MM-DD, UTC days, both included; default today) -> the days and
    the [start, end) datetimes."""
    today = utcnow().date()
    try:
        first = date.fromisoformat(request.query.get("from") or today.isoformat())
        last = date.fromisoformat(request.query.get("to") or first.isoformat())
    except ValueError as exc:
        raise web.HTTPBadRequest(text="Dates must be YYYY-MM-DD.") from exc
    if last < first:
        raise web.HTTPBadRequest(text="'to' is before 'from'.")
    start = datetime.combine(first, datetime.min.time())
    end = datetime.combine(last + timedelta(days=1), datetime.min.time())
    return first, last, start, end


def range_form(action: str, first: date, last: date, extra: str = "") -> str:
    return (
        f'<form class="filters" method="get" action="{action}">'
        f'From <input type="date" name="from" value="{first.isoformat()}"> '
        f'to <input type="date" name="to" value="{last.isoformat()}"> {extra}'
        '<button type="submit">Show</button> <span class="muted">(UTC days)</span></form>'
    )
