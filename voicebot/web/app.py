"""The dashboard's aiohttp application: login, security headers, routes, retention.

:func:`make_app` builds the app from its stores (tests pass their own);
:func:`run_dashboard` serves it on ``dashboard.address:port`` (127.0.0.1 by default).
Every page but ``/login``, ``/static`` and ``/metrics`` needs a login; every form that
changes something carries the login's CSRF token; responses carry a Content-Security-
Policy that allows only this site's own script and style.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlparse

from aiohttp import web

from voicebot.config import Settings, load_settings, section_to
from voicebot.errors import VoicebotError
from voicebot.messages import MessageStore
from voicebot.records.retention import run_retention
from voicebot.records.stats import warm_rollups
from voicebot.records.store import RecordsConfig, RecordStore, records_config
from voicebot.web import views_agent_state, views_calls, views_work
from voicebot.web.assets import CSS, JS
from voicebot.web.auth import Sessions, UserDirectory, same_token
from voicebot.web.common import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Dashboard,
    DashboardConfig,
    blocking,
    current_login,
    dash,
    dashboard_config,
    require,
    require_post,
)
from voicebot.web.html import h, layout

log = logging.getLogger(__name__)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none';"
    " base-uri 'none'"
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        resp = await handler(request)
    except web.HTTPException as exc:
        _secure(exc)
        raise
    except VoicebotError as exc:  # e.g. the records database is down: say so, no traceback
        log.error("dashboard: %s %s: %s (%s)", request.method, request.path, exc, exc.code)
        resp = web.Response(status=503, text=f"error[{exc.code}]: {exc}")
    if not resp.prepared:
        _secure(resp)
    return resp


def _secure(resp: web.StreamResponse) -> None:
    resp.headers.setdefault("Content-Security-Policy", CSP)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    resp.headers.setdefault("Cache-Control", "no-store")


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host, no //) is followed after login."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    parsed = urlparse(target)
    return target if not parsed.netloc and not parsed.scheme else "/"


def _login_form(token: str, next_url: str, error: str = "") -> str:
    message = f'<p class="error">{h(error)}</p>' if error else ""
    return (
        f'<form class="login" method="post" action="/login">{message}'
        f'<input type="hidden" name="csrf" value="{h(token)}">'
        f'<input type="hidden" name="next" value="{h(next_url)}">'
        '<label>User <input name="user" autocomplete="username" required autofocus></label>'
        '<label>Password <input name="password" type="password" autocomplete="current-password"'
        " required></label>"
        '<button type="submit">Log in</button></form>'
    )


async def login_page(request: web.Request) -> web.Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    next_url = _safe_next(request.query.get("next"))
    resp = web.Response(
        text=layout("Log in", None, _login_form(token, next_url)), content_type="text/html"
    )
    resp.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict", path="/login")
    return resp


async def login_post(request: web.Request) -> web.Response:
    form = await request.post()
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    next_url = _safe_next(str(form.get("next") or "/"))
    if not token or not same_token(str(form.get("csrf") or ""), token):
        raise web.HTTPForbidden(text="Missing or wrong CSRF token: reload the login page.")
    d = dash(request)
    user = await blocking(
        d.users.authenticate, str(form.get("user") or ""), str(form.get("password") or "")
    )
    if user is None:
        log.warning("dashboard: failed login for %r from %s", form.get("user"), request.remote)
        return web.Response(
            status=401,
            text=layout("Log in", None, _login_form(token, next_url, "Wrong user or password.")),
            content_type="text/html",
        )
    session_token, _ = d.sessions.create(user)
    target = next_url if next_url != "/" else ("/live" if user.is_supervisor else "/agent")
    resp = web.HTTPSeeOther(target)
    resp.set_cookie(SESSION_COOKIE, session_token, httponly=True, samesite="Strict", path="/")
    resp.del_cookie(LOGIN_CSRF_COOKIE, path="/login")
    raise resp


async def logout(request: web.Request) -> web.Response:
    await require_post(request)
    dash(request).sessions.drop(request.cookies.get(SESSION_COOKIE))
    resp = web.HTTPSeeOther("/login")
    resp.del_cookie(SESSION_COOKIE, path="/")
    raise resp


async def index(request: web.Request) -> web.Response:
    login = current_login(request)
    if login is None:
        raise web.HTTPSeeOther("/login")
    raise web.HTTPSeeOther("/live" if login.user.is_supervisor else "/agent")


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name == "dashboard.css":
        return web.Response(text=CSS, content_type="text/css")
    if name == "dashboard.js":
        return web.Response(text=JS, content_type="application/javascript")
    raise web.HTTPNotFound()


async def healthz(request: web.Request) -> web.Response:
    require(request)
    return web.Response(text="ok")


def make_app(
    store: RecordStore,
    messages: MessageStore,
    users: UserDirectory,
    cfg: DashboardConfig | None = None,
    records_cfg: RecordsConfig | None = None,
    department_names: dict[str, str] | None = None,
    *,
    housekeeping: bool = True,
    board: Any = None,
) -> web.Application:
    """The dashboard app over these stores (``housekeeping``: run retention hourly;
    ``board``: the ACD agent board, for the agents' pause button)."""
    cfg = cfg or DashboardConfig()
    records_cfg = records_cfg or RecordsConfig()
    app = web.Application(middlewares=[security_headers], client_max_size=1024**2)
    app["dash"] = Dashboard(
        store, messages, users, Sessions(cfg.session_idle_s), cfg, records_cfg,
        department_names or {}, board,
    )  # fmt: skip
    app.add_routes(
        [
            web.get("/", index),
            web.get("/login", login_page),
            web.post("/login", login_post),
            web.post("/logout", logout),
            web.get("/static/{name}", static),
            web.get("/healthz", healthz),
            web.get("/live", views_calls.live_page),
            web.get("/events/live", views_calls.live_events),
            web.get("/stats", views_calls.stats_page),
            web.get("/calls", views_calls.calls_page),
            web.get("/calls.csv", views_calls.calls_csv),
            web.get("/calls/{call_id}", views_calls.call_page),
            web.get("/calls/{call_id}/recording", views_calls.call_recording),
            web.get("/messages", views_work.messages_page),
            web.post("/messages/{message_id}/{state:done|open}", views_work.message_mark),
            web.get("/messages/{message_id}/recording", views_work.message_recording),
            web.get("/review", views_work.review_page),
            web.post("/review/export", views_work.review_export),
            web.get("/agent", views_work.agent_page),
            web.get("/events/agent", views_work.agent_events),
            web.get("/agent/call/{ref}", views_work.agent_call),
            web.post("/agent/state", views_agent_state.set_state),
            web.get("/metrics", views_work.metrics),
        ]
    )
    if housekeeping:
        app.cleanup_ctx.append(_housekeeping)
    return app


async def _housekeeping(app: web.Application) -> AsyncIterator[None]:
    """Retention, stale-call closing and daily statistics at start and every hour."""
    d: Dashboard = app["dash"]

    async def loop() -> None:
        while True:
            try:
                await blocking(run_retention, d.store, d.records_cfg)
                await blocking(warm_rollups, d.store, 400)
            except Exception:  # noqa: BLE001 - housekeeping must not stop the dashboard
                log.exception("dashboard: housekeeping failed")
            await asyncio.sleep(3600)

    task = asyncio.create_task(loop())
    yield
    task.cancel()


def department_names() -> dict[str, str]:
    from voicebot.departments import load_departments

    try:
        deps = load_departments()
        return {k: deps.get(k).name for k in deps.keys()}
    except Exception:  # noqa: BLE001 - names are cosmetic; keys are shown instead
        return {}


def _agent_board(settings: Settings) -> Any:
    """The host's ACD agent board when ``sip.acd`` is on (else None)."""
    from voicebot.telephony.settings import SipSettings

    if not section_to(SipSettings, settings, "sip").acd:
        return None
    from voicebot.center.agents import load_agents
    from voicebot.center.board_api import open_board

    return open_board(settings, load_agents())  # SQLite, or the hosts' shared Redis board


def app_from_settings(settings: Settings | None = None) -> tuple[web.Application, DashboardConfig]:
    settings = settings or load_settings()
    cfg = dashboard_config(settings)
    rcfg = records_config(settings)
    users = UserDirectory(cfg.users_path())
    if not len(users):
        log.warning(
            "dashboard: no users in %s; add one with `voicebot dashboard add-user`",
            cfg.users_path(),
        )
    store = RecordStore(rcfg.url or None)
    app = make_app(
        store, MessageStore(), users, cfg, rcfg, department_names(), board=_agent_board(settings)
    )
    return app, cfg


def run_dashboard(settings: Settings | None = None, port: int | None = None,
                  address: str | None = None) -> None:  # fmt: skip
    """Serve the dashboard until interrupted (blocking)."""
    app, cfg = app_from_settings(settings)
    host, p = address or cfg.address, port if port is not None else cfg.port
    print(f"dashboard on http://{host}:{p}/", flush=True)
    web.run_app(app, host=host, port=p, print=None, access_log=None)
