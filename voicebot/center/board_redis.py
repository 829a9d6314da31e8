"""The agent board on a Redis server, for call centers on several hosts.

Same behaviour as the SQLite :class:`~voicebot.center.board.AgentBoard` (see its docstring
for the states and the rules), but every host's workers and supervisor use one Redis server,
so a hand-off on host A can ring an agent whose phone registered through host B, and two
hosts never ring the same agent. Every move that reads and writes is one Lua script, which
Redis runs atomically (nothing else runs in between, on any connection).

Keys, under ``prefix`` (``voicebot:acd:`` by default)::

    agent:<key>          hash   state, contact, registered_until, state_since, idle_since,
                                wrap_until, current_call, missed, calls, talk_s
    call:<ref>           hash   department, joined_at, state, agent, answered_at, ended_at
    waiting:<department> zset   waiting calls, score joined_at (ties: by ref, as SQLite)
    offer:<id>           hash   call_ref, agent, department, offered_at, result,
                                answered_at, ended_at
    offers:<ref>         list   the call's offer ids
    offer_seq            int    last offer id
    calls                zset   every call, score joined_at (for statistics)
    handle:<department>  hash   n, sum: talk times of finished calls (expected wait)

Finished calls (and their offers) expire after ``retain_s`` (the statistics are kept in the
call records, see :mod:`voicebot.records.acd`). A registration expires on the board's clock
(``registered_until``), as on SQLite: the caller passes ``now``, so a virtual clock works.
Times are seconds; a board shared by hosts uses the wall clock
(:func:`~voicebot.center.board_api.board_clock`).
"""

from __future__ import annotations

from typing import Any

import redis

from voicebot.center.agents import AcdSettings, AgentRoster
from voicebot.center.board import AgentState, AgentStatus, Offer, OfferResult, QueueOutcome
from voicebot.errors import StoreError

DEFAULT_PREFIX = "voicebot:acd:"
RETAIN_S = 7 * 86400.0
"""How long a finished call stays on the board, s."""

_REGISTER = """
local P, key, contact, expires, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local a = P .. 'agent:' .. key
local state = redis.call('HGET', a, 'state') or 'offline'
if expires <= 0 then
  -- only an available agent goes offline: paused, missed and wrap-up are the agent's own
  -- state and survive a lapsed registration (as on SQLite)
  redis.call('HSET', a, 'registered_until', '0')
  redis.call('HDEL', a, 'contact')
  if state == 'available' then
    redis.call('HSET', a, 'state', 'offline', 'state_since', now)
  end
  return 0
end
redis.call('HSET', a, 'registered_until', tostring(tonumber(now) + expires), 'contact', contact)
if state == 'offline' then
  redis.call('HSET', a, 'state', 'available', 'state_since', now, 'idle_since', now)
end
return 1
"""

_PAUSE = """
local a = ARGV[1] .. 'agent:' .. ARGV[2]
local s = redis.call('HGET', a, 'state') or 'offline'
if s == 'available' or s == 'wrap_up' or s == 'missed' or s == 'offline' then
  redis.call('HSET', a, 'state', 'paused', 'state_since', ARGV[3])
end
return 0
"""

_RESUME = """
local a = ARGV[1] .. 'agent:' .. ARGV[2]
local now = ARGV[3]
local v = redis.call('HMGET', a, 'state', 'registered_until')
local s = v[1] or 'offline'
if (s == 'paused' or s == 'missed' or s == 'offline')
    and tonumber(v[2] or '0') > tonumber(now) then
  redis.call('HSET', a, 'state', 'available', 'state_since', now, 'idle_since', now)
end
return 0
"""

# position of a waiting call: 1 + its rank in the department's waiting set, else 0
_POSITION_FN = """
local function position(P, ref)
  local c = P .. 'call:' .. ref
  local v = redis.call('HMGET', c, 'state', 'department')
  if v[1] ~= 'waiting' then return 0 end
  local rank = redis.call('ZRANK', P .. 'waiting:' .. v[2], ref)
  if not rank then return 0 end
  return rank + 1
end
"""

_JOIN = (
    _POSITION_FN
    + """
local P, ref, dept, now, retain = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local c = P .. 'call:' .. ref
if redis.call('EXISTS', c) == 0 then
  redis.call('HSET', c, 'department', dept, 'joined_at', now, 'state', 'waiting')
  redis.call('ZADD', P .. 'waiting:' .. dept, now, ref)
  redis.call('ZADD', P .. 'calls', now, ref)
  redis.call('ZREMRANGEBYSCORE', P .. 'calls', '-inf', '(' .. tostring(tonumber(now) - retain))
end
return position(P, ref)
"""
)

_POSITION = (
    _POSITION_FN
    + """
return position(ARGV[1], ARGV[2])
"""
)

# ARGV: prefix, ref, now, agent keys of the call's department (file order)...
_CLAIM = (
    _POSITION_FN
    + """
local P, ref, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local c = P .. 'call:' .. ref
local v = redis.call('HMGET', c, 'state', 'department')
if v[1] ~= 'waiting' then return false end
local dept = v[2]
local free = {}
for i = 4, #ARGV do
  local k = ARGV[i]
  local a = redis.call('HMGET', P .. 'agent:' .. k,
    'state', 'wrap_until', 'idle_since', 'registered_until', 'contact')
  local s = a[1] or 'offline'
  local wrap = tonumber(a[2] or '0')
  local ok = s == 'available' or (s == 'wrap_up' and wrap <= now)
  if ok and tonumber(a[4] or '0') > now then
    local idle = tonumber(a[3] or '0')
    if s == 'wrap_up' then idle = wrap end
    table.insert(free, {k, idle, a[5] or ''})
  end
end
local pos = position(P, ref)
if pos == 0 or pos > #free then return false end
table.sort(free, function(x, y)
  if x[2] ~= y[2] then return x[2] < y[2] end
  return x[1] < y[1]
end)
local agent = free[pos]
redis.call('HSET', P .. 'agent:' .. agent[1],
  'state', 'ringing', 'state_since', ARGV[3], 'current_call', ref)
redis.call('HSET', c, 'state', 'ringing', 'agent', agent[1])
redis.call('ZREM', P .. 'waiting:' .. dept, ref)
local id = redis.call('INCR', P .. 'offer_seq')
redis.call('HSET', P .. 'offer:' .. id, 'call_ref', ref, 'agent', agent[1],
  'department', dept, 'offered_at', ARGV[3])
redis.call('RPUSH', P .. 'offers:' .. ref, id)
return {id, agent[1], agent[3]}
"""
)

# ARGV: prefix, offer id, result, now, missed_pauses (1/0)
_OFFER_RESULT = """
local P, id, result, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local o = P .. 'offer:' .. id
local v = redis.call('HMGET', o, 'call_ref', 'agent')
if not v[1] then return 0 end
local c, a = P .. 'call:' .. v[1], P .. 'agent:' .. v[2]
redis.call('HSET', o, 'result', result)
if result == 'answered' then
  redis.call('HSET', o, 'answered_at', now)
  redis.call('HSET', a, 'state', 'busy', 'state_since', now)
  redis.call('HSET', c, 'state', 'answered', 'answered_at', now)
  return 1
end
local state = 'available'
if result == 'missed' and ARGV[5] == '1' then state = 'missed' end
redis.call('HSET', a, 'state', state, 'state_since', now, 'idle_since', now)
redis.call('HDEL', a, 'current_call')
if result == 'missed' or result == 'failed' then redis.call('HINCRBY', a, 'missed', 1) end
local cv = redis.call('HMGET', c, 'state', 'department', 'joined_at')
if cv[1] == 'ringing' then
  redis.call('HSET', c, 'state', 'waiting')
  redis.call('HDEL', c, 'agent')
  redis.call('ZADD', P .. 'waiting:' .. cv[2], cv[3], v[1])
end
return 1
"""

# ARGV: prefix, offer id, now, wrap_up_s, retain_s
_CALL_ENDED = """
local P, id, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local o = P .. 'offer:' .. id
local v = redis.call('HMGET', o, 'call_ref', 'agent', 'answered_at', 'department')
if not v[1] then return 0 end
local talk = 0
if v[3] then talk = math.max(0, now - tonumber(v[3])) end
redis.call('HSET', o, 'ended_at', ARGV[3])
local a = P .. 'agent:' .. v[2]
if redis.call('HGET', a, 'state') == 'busy' then
  redis.call('HSET', a, 'state', 'wrap_up', 'state_since', ARGV[3],
    'wrap_until', tostring(now + tonumber(ARGV[4])))
  redis.call('HDEL', a, 'current_call')
  redis.call('HINCRBY', a, 'calls', 1)
  redis.call('HINCRBYFLOAT', a, 'talk_s', talk)
end
if v[3] then
  redis.call('HINCRBY', P .. 'handle:' .. v[4], 'n', 1)
  redis.call('HINCRBYFLOAT', P .. 'handle:' .. v[4], 'sum', talk)
end
local c = P .. 'call:' .. v[1]
redis.call('HSET', c, 'ended_at', ARGV[3])
local retain = math.floor(tonumber(ARGV[5]))
redis.call('EXPIRE', c, retain)
redis.call('EXPIRE', P .. 'offers:' .. v[1], retain)
for _, oid in ipairs(redis.call('LRANGE', P .. 'offers:' .. v[1], 0, -1)) do
  redis.call('EXPIRE', P .. 'offer:' .. oid, retain)
end
return 1
"""

# ARGV: prefix, ref, outcome, now, retain_s
_LEAVE = """
local P, ref, outcome, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local c = P .. 'call:' .. ref
local v = redis.call('HMGET', c, 'state', 'department')
if v[1] ~= 'waiting' and v[1] ~= 'ringing' then return 0 end
redis.call('HSET', c, 'state', outcome, 'ended_at', now)
redis.call('ZREM', P .. 'waiting:' .. v[2], ref)
local retain = math.floor(tonumber(ARGV[5]))
redis.call('EXPIRE', c, retain)
redis.call('EXPIRE', P .. 'offers:' .. ref, retain)
for _, oid in ipairs(redis.call('LRANGE', P .. 'offers:' .. ref, 0, -1)) do
  redis.call('EXPIRE', P .. 'offer:' .. oid, retain)
end
return 1
"""

# ARGV: prefix, ref, now, agent keys of the department...; returns
# {found, position, staffed, handled calls, talk sum (string)}
_WAIT = (
    _POSITION_FN
    + """
local P, ref, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local dept = redis.call('HGET', P .. 'call:' .. ref, 'department')
if not dept then return {0, 0, 0, 0, '0'} end
local staffed = 0
for i = 4, #ARGV do
  local a = redis.call('HMGET', P .. 'agent:' .. ARGV[i], 'state', 'registered_until')
  local s = a[1] or 'offline'
  if tonumber(a[2] or '0') > now and s ~= 'paused' and s ~= 'missed' and s ~= 'offline' then
    staffed = staffed + 1
  end
end
local h = redis.call('HMGET', P .. 'handle:' .. dept, 'n', 'sum')
return {1, position(P, ref), staffed, tonumber(h[1] or '0'), h[2] or '0'}
"""
)

_AGENT_FIELDS = (
    "state",
    "contact",
    "registered_until",
    "idle_since",
    "wrap_until",
    "current_call",
    "missed",
    "calls",
    "talk_s",
)


def _f(value: Any, default: float = 0.0) -> float:
    return float(value) if value not in (None, b"", "") else default


def _s(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisBoard:
    """Agent states and department queues on a Redis server (see the module docstring).

    Args:
        url: ``redis://[:password@]HOST:PORT/DB``.
        roster: the agents (``agents.yml``).
        prefix: key prefix; several centers (or tests) can share one server apart.
        retain_s: how long a finished call stays on the board, s.
    """

    multi_host = True

    def __init__(
        self,
        url: str,
        roster: AgentRoster,
        *,
        prefix: str = DEFAULT_PREFIX,
        retain_s: float = RETAIN_S,
    ) -> None:
        self.url = url
        self.roster = roster
        self.acd: AcdSettings = roster.acd
        self.prefix = prefix
        self.retain_s = retain_s
        try:
            self._r = redis.Redis.from_url(url, socket_timeout=10.0, socket_connect_timeout=5.0)
        except ValueError as exc:
            raise StoreError(f"agent board: bad Redis URL {url!r}: {exc}") from exc
        self._scripts = {
            name: self._r.register_script(text)
            for name, text in {
                "register": _REGISTER,
                "pause": _PAUSE,
                "resume": _RESUME,
                "join": _JOIN,
                "position": _POSITION,
                "claim": _CLAIM,
                "offer_result": _OFFER_RESULT,
                "call_ended": _CALL_ENDED,
                "leave": _LEAVE,
                "wait": _WAIT,
            }.items()
        }
        try:
            pipe = self._r.pipeline()
            for key in roster.agents:
                pipe.hsetnx(f"{prefix}agent:{key}", "state", "offline")
            pipe.execute()
        except redis.RedisError as exc:
            raise StoreError(f"cannot reach the agent board at {self._where()}: {exc}") from exc

    def _where(self) -> str:
        kw = self._r.connection_pool.connection_kwargs
        return f"redis {kw.get('host', '?')}:{kw.get('port', '?')}/{kw.get('db', 0)}"

    def _run(self, name: str, *args: Any) -> Any:
        try:
            return self._scripts[name](args=[self.prefix, *args])
        except redis.RedisError as exc:
            raise StoreError(f"agent board ({self._where()}), {name}: {exc}") from exc

    def _department_keys(self, department: str) -> list[str]:
        return [a.key for a in self.roster.for_department(department)]

    def close(self) -> None:
        """Close the connections (the board may not be used afterwards)."""
        self._r.close()

    # ------------------------------------------------------------------ agents

    def register(self, key: str, contact: str, expires_s: float, now: float) -> None:
        """See :meth:`AgentBoard.register <voicebot.center.board.AgentBoard.register>`."""
        self.roster.get(key)
        self._run("register", key, contact, repr(float(expires_s)), repr(float(now)))

    def pause(self, key: str, now: float) -> None:
        """The agent takes no calls (from available, wrap-up or missed)."""
        self.roster.get(key)
        self._run("pause", key, repr(float(now)))

    def resume(self, key: str, now: float) -> None:
        """A paused or missed registered agent is available again, idle from ``now``."""
        self.roster.get(key)
        self._run("resume", key, repr(float(now)))

    def status(self, now: float) -> list[AgentStatus]:
        """Every configured agent, in file order (one consistent MULTI snapshot)."""
        try:
            pipe = self._r.pipeline(transaction=True)
            for key in self.roster.agents:
                pipe.hmget(f"{self.prefix}agent:{key}", _AGENT_FIELDS)
            rows = pipe.execute()
        except redis.RedisError as exc:
            raise StoreError(f"agent board ({self._where()}), status: {exc}") from exc
        out = []
        for key, values in zip(self.roster.agents, rows, strict=True):
            r = dict(zip(_AGENT_FIELDS, values, strict=True))
            state: AgentState = _s(r["state"]) or "offline"  # type: ignore[assignment]
            idle_from = _f(r["idle_since"])
            if state == "wrap_up" and _f(r["wrap_until"]) <= now:
                state, idle_from = "available", _f(r["wrap_until"])
            out.append(
                AgentStatus(
                    key=key,
                    state=state,
                    registered=_f(r["registered_until"]) > now,
                    contact=_s(r["contact"]),
                    idle_s=max(0.0, now - idle_from) if state == "available" else 0.0,
                    current_call=_s(r["current_call"]),
                    calls=int(_f(r["calls"])),
                    talk_s=_f(r["talk_s"]),
                    missed=int(_f(r["missed"])),
                )
            )
        return out

    # ------------------------------------------------------------------ queue

    def join(self, call_ref: str, department: str, now: float) -> int:
        """Put a call in ``department``'s queue; returns its position (1 = next)."""
        return int(self._run("join", call_ref, department, repr(float(now)), repr(self.retain_s)))

    def position(self, call_ref: str) -> int:
        """Position of a waiting call in its queue (1 = next); 0 if it is not waiting."""
        return int(self._run("position", call_ref))

    def claim(self, call_ref: str, now: float) -> Offer | None:
        """Give the waiting call an agent to ring if it is its turn: the call at position
        *p* gets the *p*-th longest-idle free registered agent of its department."""
        department = self._r.hget(f"{self.prefix}call:{call_ref}", "department")
        if department is None:
            return None
        keys = self._department_keys(_s(department) or "")
        if not keys:
            return None
        got = self._run("claim", call_ref, repr(float(now)), *keys)
        if not got:
            return None
        offer_id, agent, contact = got
        return Offer(int(offer_id), call_ref, _s(agent) or "", _s(contact) or None)

    def offer_result(self, offer: Offer, result: OfferResult, now: float) -> None:
        """See :meth:`AgentBoard.offer_result <voicebot.center.board.AgentBoard.offer_result>`."""
        self._run(
            "offer_result",
            str(offer.offer_id),
            result,
            repr(float(now)),
            "1" if self.acd.missed_pauses else "0",
        )

    def call_ended(self, offer: Offer, now: float) -> None:
        """The agent's call is over: wrap-up starts, their talk time is counted."""
        self._run(
            "call_ended",
            str(offer.offer_id),
            repr(float(now)),
            repr(float(self.acd.wrap_up_s)),
            repr(self.retain_s),
        )

    def leave(self, call_ref: str, outcome: QueueOutcome, now: float) -> None:
        """A waiting or ringing call left the queue (abandoned, message, failed)."""
        self._run("leave", call_ref, outcome, repr(float(now)), repr(self.retain_s))

    def expected_wait_s(self, call_ref: str, now: float) -> float:
        """Position times the mean handle time, shared by the staffed agents, s."""
        department = self._r.hget(f"{self.prefix}call:{call_ref}", "department")
        keys = self._department_keys(_s(department) or "") if department else []
        found, position, staffed, handled, talk_sum = self._run(
            "wait", call_ref, repr(float(now)), *keys
        )
        if not int(found):
            return 0.0
        handle = (
            float(_s(talk_sum) or 0) / int(handled) + self.acd.wrap_up_s
            if int(handled)
            else self.acd.default_handle_s
        )
        return int(position) * handle / max(1, int(staffed))

    def history(
        self, since: float, until: float
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Calls that joined in [since, until) and their offers (finished calls are kept
        ``retain_s``)."""
        p = self.prefix
        try:
            top = "+inf" if until == float("inf") else f"({until!r}"
            refs = [_s(r) or "" for r in self._r.zrangebyscore(f"{p}calls", since, top)]
            pipe = self._r.pipeline(transaction=True)
            for ref in refs:
                pipe.hgetall(f"{p}call:{ref}")
                pipe.lrange(f"{p}offers:{ref}", 0, -1)
            got = pipe.execute()
            calls: list[dict[str, Any]] = []
            offer_ids: list[str] = []
            for i, ref in enumerate(refs):
                row = {_s(k): _s(v) for k, v in got[2 * i].items()}
                if not row:
                    continue  # expired
                calls.append(
                    {
                        "call_ref": ref,
                        "department": row.get("department"),
                        "joined_at": _f(row.get("joined_at")),
                        "state": row.get("state"),
                        "agent": row.get("agent"),
                        "answered_at": _opt(row.get("answered_at")),
                        "ended_at": _opt(row.get("ended_at")),
                    }
                )
                offer_ids.extend(_s(o) or "" for o in got[2 * i + 1])
            pipe = self._r.pipeline(transaction=False)
            for oid in offer_ids:
                pipe.hgetall(f"{p}offer:{oid}")
            offers = []
            for oid, raw in zip(offer_ids, pipe.execute(), strict=True):
                o = {_s(k): _s(v) for k, v in raw.items()}
                if not o:
                    continue
                offers.append(
                    {
                        "id": int(oid),
                        "call_ref": o.get("call_ref"),
                        "agent": o.get("agent"),
                        "department": o.get("department"),
                        "offered_at": _f(o.get("offered_at")),
                        "result": o.get("result"),
                        "answered_at": _opt(o.get("answered_at")),
                        "ended_at": _opt(o.get("ended_at")),
                    }
                )
        except redis.RedisError as exc:
            raise StoreError(f"agent board ({self._where()}), history: {exc}") from exc
        return calls, offers


def _opt(value: str | None) -> float | None:
    return float(value) if value not in (None, "") else None
