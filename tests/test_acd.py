"""The ACD core: agent roster file, the shared agent board, longest-idle routing, the queue,
and a simulated day on a virtual clock.

The board cases run on both boards: SQLite (one host) and Redis (several hosts; a real
redis-server started here on a free port). No SIP here: ringing agents' phones and callers
are simulated (voicebot.center.simulation); the board, the distributor and the statistics
are the real ones.
"""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _redis import redis_server

from voicebot.center.acd_stats import queue_figures
from voicebot.center.agents import AgentRoster, load_agents
from voicebot.center.announce import queue_announcement, spoken_wait, whisper_text
from voicebot.center.board import AgentBoard
from voicebot.center.board_api import Board
from voicebot.center.board_redis import RedisBoard
from voicebot.center.distributor import Distributor, QueueStay
from voicebot.center.simulation import AgentHabits, run_virtual, simulate_day
from voicebot.departments import load_departments
from voicebot.errors import ConfigError

THREE = """
acd: {ring_timeout_s: 10, wrap_up_s: 30, service_level_s: 20, announce_every_s: 30,
      max_wait_s: 120}
agents:
  ann: {name: Ann, sip_user: ann, departments: [billing]}
  ben: {name: Ben, sip_user: ben, departments: [billing]}
  cat: {name: Cat, sip_user: cat, departments: [billing, sales]}
"""


def roster(tmp_path: Path, text: str = THREE) -> AgentRoster:
    path = tmp_path / "agents.yml"
    path.write_text(text)
    return load_agents(path, departments=set(load_departments().keys()))


OpenBoard = Callable[[Path, AgentRoster], Board]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from redis_server(tmp_path_factory.mktemp("redis"))


def _opener(kind: str, url: str | None) -> OpenBoard:
    """Opens a fresh board of ``kind`` (a Redis board gets a prefix of its own)."""
    if kind == "sqlite":
        return lambda folder, agents: AgentBoard(folder / "acd.sqlite3", agents)
    assert url is not None
    return lambda folder, agents: RedisBoard(url, agents, prefix=f"test:{uuid.uuid4().hex[:8]}:")


@pytest.fixture(params=["sqlite", "redis"])
def open_board(request: pytest.FixtureRequest) -> OpenBoard:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    return _opener(request.param, url)


def board_with_three(tmp_path: Path, open_board: OpenBoard) -> Board:
    board = open_board(tmp_path, roster(tmp_path))
    # registered one after another: ann has been idle longest, then ben, then cat
    board.register("ann", "sip:ann@127.0.0.1", 3600, now=100.0)
    board.register("ben", "sip:ben@127.0.0.1", 3600, now=110.0)
    board.register("cat", "sip:cat@127.0.0.1", 3600, now=120.0)
    return board


def test_the_shipped_agent_file_is_valid() -> None:
    agents = load_agents(departments=set(load_departments().keys()))
    assert agents.for_department("billing")
    assert agents.acd.service_level_s == 20


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("agents: {a: {name: A, sip_user: a, departments: [nowhere]}}", "unknown department"),
        (
            "agents: {a: {name: A, sip_user: x, departments: [billing]},"
            " b: {name: B, sip_user: x, departments: [billing]}}",
            "'x' is also agent 'a'",
        ),
        ("agents: {a: {name: A, sip_user: 'a b', departments: [billing]}}", "not a SIP user"),
        ("agents: {a: {name: A, sip_user: a, departments: [billing], level: 7}}", "1, 2 or 3"),
        ("agents: {a: {name: A, departments: [billing]}}", "missing field 'sip_user'"),
        ("acd: {ring_timeout_s: -1}\nagents: {}", "must be a number >= 0"),
        ("acd: {ring_time: 3}\nagents: {}", "unknown key 'ring_time'"),
        ("agents: [1, 2]", "'agents' must map"),
        ("acd: {pause_code: '41'}\nagents: {}", "a keypad code is"),
        ("acd: {pause_code: '*4', resume_code: '*4'}\nagents: {}", "must differ"),
        (
            "agents: {a: {name: A, sip_user: a, departments: [billing], password: short}}",
            "at least 8 characters",
        ),
        ("agents: {a: {name: A, sip_user: a, departments: [billing]}\n", "not valid YAML"),
    ],
)
def test_agent_file_mistakes_name_the_agent_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(")) as err:
        roster(tmp_path, text)
    assert str(tmp_path / "agents.yml") in str(err.value)


def test_calls_go_to_the_agent_idle_longest_and_skip_wrap_up_and_paused(
    tmp_path: Path, open_board: OpenBoard
) -> None:
    board = board_with_three(tmp_path, open_board)
    board.join("call-1", "billing", now=200.0)
    first = board.claim("call-1", now=200.0)
    assert first is not None and first.agent == "ann"  # idle since 100
    board.offer_result(first, "answered", now=205.0)
    board.call_ended(first, now=265.0)  # ann: wrap-up until 295

    board.pause("ben", now=266.0)
    board.join("call-2", "billing", now=270.0)
    second = board.claim("call-2", now=270.0)
    assert second is not None and second.agent == "cat"  # ann wraps up, ben paused
    board.offer_result(second, "answered", now=272.0)

    board.join("call-3", "billing", now=280.0)
    assert board.claim("call-3", now=280.0) is None  # nobody free yet
    assert board.position("call-3") == 1
    third = board.claim("call-3", now=296.0)  # ann's wrap-up is over
    assert third is not None and third.agent == "ann"
    states = {s.key: s for s in board.status(now=296.0)}
    assert states["ann"].state == "ringing" and states["ann"].calls == 1
    assert states["ann"].talk_s == pytest.approx(60.0)
    assert states["ben"].state == "paused" and states["cat"].state == "busy"


def test_an_agent_who_does_not_answer_is_marked_missed_and_the_next_one_rings(
    tmp_path: Path,
    open_board: OpenBoard,
) -> None:
    board = board_with_three(tmp_path, open_board)
    board.join("call-1", "billing", now=200.0)
    offer = board.claim("call-1", now=200.0)
    assert offer is not None and offer.agent == "ann"
    board.offer_result(offer, "missed", now=210.0)
    assert board.position("call-1") == 1  # back in its place
    again = board.claim("call-1", now=210.0)
    assert again is not None and again.agent == "ben"
    states = {s.key: s for s in board.status(now=211.0)}
    assert states["ann"].state == "missed" and states["ann"].missed == 1
    board.resume("ann", now=300.0)
    assert {s.key: s.state for s in board.status(now=300.0)}["ann"] == "available"


def test_a_re_register_or_a_lapsed_registration_keeps_the_agents_own_state(
    tmp_path: Path, open_board: OpenBoard
) -> None:
    """Phones refresh their registration every few minutes (and a late refresh lets it lapse
    for a moment): neither may make a paused, missed or wrap-up agent available, nor reset
    an available agent's idle time (their place in the longest-idle order)."""
    board = board_with_three(tmp_path, open_board)
    board.pause("ann", now=130.0)
    board.join("call-1", "billing", now=140.0)
    offer = board.claim("call-1", now=140.0)
    assert offer is not None and offer.agent == "ben"
    board.offer_result(offer, "missed", now=145.0)  # ben: missed (paused)
    offer = board.claim("call-1", now=146.0)
    assert offer is not None and offer.agent == "cat"
    board.offer_result(offer, "answered", now=147.0)
    board.call_ended(offer, now=160.0)  # cat: wrap-up until 190
    for now in (170.0, 175.0):  # refresh: same contact, new expiry
        for key in ("ann", "ben", "cat"):
            board.register(key, f"sip:{key}@127.0.0.1", 3600, now=now)
    states = {s.key: s.state for s in board.status(now=176.0)}
    assert states == {"ann": "paused", "ben": "missed", "cat": "wrap_up"}
    for key in ("ann", "ben", "cat"):  # lapsed, then registered again
        board.register(key, "", 0, now=177.0)
        board.register(key, f"sip:{key}@127.0.0.1", 3600, now=178.0)
    status = {s.key: s for s in board.status(now=179.0)}
    assert {k: s.state for k, s in status.items()} == states
    assert all(s.registered for s in status.values())
    board.resume("ann", now=180.0)
    board.register("ann", "sip:ann@127.0.0.1", 3600, now=185.0)  # a refresh after resuming
    assert board.status(now=190.0)[0].idle_s == pytest.approx(10.0)  # idle from the resume


def test_a_refused_call_keeps_its_place_and_the_refusing_agent_goes_last(
    tmp_path: Path, open_board: OpenBoard
) -> None:
    board = board_with_three(tmp_path, open_board)
    board.join("call-1", "billing", now=200.0)
    board.join("call-2", "billing", now=201.0)
    first = board.claim("call-1", now=202.0)
    assert first is not None and first.agent == "ann"
    board.offer_result(first, "refused", now=205.0)
    # ann is idle again but from 205: ben and cat have waited longer
    assert [
        board.claim("call-1", now=206.0).agent,  # type: ignore[union-attr]
        board.claim("call-2", now=206.0).agent,
    ] == ["ben", "cat"]  # type: ignore[union-attr]


def test_queue_serves_oldest_first_and_unregistered_agents_get_nothing(
    tmp_path: Path, open_board: OpenBoard
) -> None:
    board = board_with_three(tmp_path, open_board)
    for key in ("ann", "ben"):
        board.register(key, "", 0, now=150.0)  # phones gone
    board.join("old", "billing", now=200.0)
    board.join("new", "billing", now=201.0)
    assert board.position("new") == 2
    assert board.claim("new", now=202.0) is None  # one agent (cat): the older call's
    offer = board.claim("old", now=202.0)
    assert offer is not None and offer.agent == "cat"
    board.leave("new", "abandoned", now=230.0)
    assert board.position("new") == 0


EIGHT = "agents:\n" + "".join(
    f"  a{i}: {{name: A{i}, sip_user: a{i}, departments: [billing]}}\n" for i in range(8)
)
RACE_ROUNDS = 12
RACE_CALLS = 10  # per process and round: 20 calls for 8 agents


def _open_round(kind: str, where: str, roster_path: str, round_no: int) -> Board:
    agents = load_agents(roster_path)
    if kind == "sqlite":
        return AgentBoard(Path(where) / f"round{round_no}.sqlite3", agents)
    url, prefix = where.split(" ", 1)
    return RedisBoard(url, agents, prefix=f"{prefix}{round_no}:")


def _claim_rounds(
    kind: str, where: str, roster_path: str, name: str, barrier: object, out: object
) -> None:
    """One process of the race: per round, wait for the other, then join and claim calls
    as fast as it can, each waiting call trying again after every join."""
    boards = [_open_round(kind, where, roster_path, r) for r in range(RACE_ROUNDS)]
    for r, board in enumerate(boards):
        barrier.wait(60)  # type: ignore[attr-defined]
        got: dict[str, str] = {}
        waiting: list[str] = []
        for i in range(RACE_CALLS):
            ref = f"{name}-{i}"
            board.join(ref, "billing", now=1000.0 + i)
            waiting.append(ref)
            for w in list(waiting):
                offer = board.claim(w, now=1000.0 + i)
                if offer is not None:
                    got[w] = offer.agent
                    waiting.remove(w)
        out.put((r, got))  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_two_processes_claiming_at_once_never_take_the_same_agent(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    """Two processes race for 8 agents, 20 calls a round, 12 rounds: no agent is ever
    given to two calls, and what they were given is what the board says they ring for."""
    roster_path = tmp_path / "agents.yml"
    agents = roster(tmp_path, EIGHT)
    if kind == "sqlite":
        where = str(tmp_path)
    else:
        where = f"{request.getfixturevalue('redis_url')} race{uuid.uuid4().hex[:6]}:"
    boards = [_open_round(kind, where, str(roster_path), r) for r in range(RACE_ROUNDS)]
    for board in boards:
        for i, key in enumerate(agents.agents):
            board.register(key, f"sip:{key}@127.0.0.1", 3600, now=100.0 + i)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    barrier = ctx.Barrier(2)
    procs = [
        ctx.Process(target=_claim_rounds, args=(kind, where, str(roster_path), n, barrier, out))
        for n in ("w1", "w2")
    ]
    for p in procs:
        p.start()
    results: dict[int, dict[str, str]] = {}
    for _ in range(2 * RACE_ROUNDS):
        r, got = out.get(timeout=120)
        results.setdefault(r, {}).update(got)
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    both = 0
    for r, got in sorted(results.items()):
        agents_given = list(got.values())
        assert len(agents_given) == len(set(agents_given)), (r, got)
        ringing = {s.key: s.current_call for s in boards[r].status(2000.0) if s.state == "ringing"}
        assert ringing == {agent: ref for ref, agent in got.items()}, r
        assert 1 <= len(got) <= 8
        both += any(k.startswith("w1") for k in got) and any(k.startswith("w2") for k in got)
    assert both >= RACE_ROUNDS // 2  # the processes really raced for the same agents


def test_announcements_and_whisper_say_what_a_person_needs() -> None:
    assert spoken_wait(30) == "less than a minute"
    assert spoken_wait(200) == "about 3 minutes"
    text = queue_announcement(2, 200, first=True)
    assert "second in the queue" in text and "about 3 minutes" in text and "press 1" in text
    whisper = whisper_text(
        "billing",
        {
            "slots": {"customer_name": "Alice M.", "verified": True, "pin": "1234"},
            "summary": "Says she was charged twice",
            "reason": "routed",
        },
    )
    assert whisper == "Billing. Verified customer Alice M. Says she was charged twice."
    assert "1234" not in whisper


def test_a_simulated_hour_is_deterministic_and_its_figures_add_up(
    tmp_path: Path, open_board: OpenBoard
) -> None:
    def day(folder: Path) -> tuple[list[QueueStay], dict]:
        folder.mkdir()
        board = open_board(folder, roster(folder))
        stays = run_virtual(
            simulate_day(
                board,
                ["billing", "sales"],
                12,
                60.0,
                seed=7,
                habits=AgentHabits(no_answer=0.2, refuse=0.1, talk_s_mean=120),
            )
        )
        return stays, queue_figures(board).as_dict()

    stays, figures = day(tmp_path / "a")
    again, figures_again = day(tmp_path / "b")
    assert stays == again and figures == figures_again
    assert figures["queued"] == 12
    assert figures["answered"] + figures["abandoned"] + figures["messages"] == 12
    answered = [s for s in stays if s.result == "answered"]
    assert len(answered) == figures["answered"]
    assert sum(a["calls"] for a in figures["agents"]) == figures["answered"]
    # with no_answer 0.2 some agent was missed, and the call went on to another agent
    missed_then_answered = [s for s in answered if any(r == "missed" for _, r in s.offers)]
    assert missed_then_answered, stays
    within = sum(1 for s in answered if s.wait_s <= 20)
    assert figures["answered_within_sl"] == within


def test_a_caller_who_waits_too_long_is_offered_a_message(
    tmp_path: Path, open_board: OpenBoard
) -> None:
    board = open_board(tmp_path, roster(tmp_path))  # nobody registered

    class Patient:
        caller_gone = False
        wants_message = False
        offered = 0
        heard: list[str] = []

        async def announce(self, position: int, wait_s: float, first: bool) -> None:
            self.heard.append(queue_announcement(position, wait_s, first=first))

        async def offer_message(self) -> None:
            self.offered += 1
            self.wants_message = True  # the caller presses 1

        async def ring(self, offer, timeout_s):  # type: ignore[no-untyped-def]
            raise AssertionError("nobody can ring")

        async def connected(self, offer):  # type: ignore[no-untyped-def]
            raise AssertionError

    line = Patient()
    stay = run_virtual(Distributor(board, poll_s=1.0).serve("c1", "billing", line))
    assert stay.result == "message" and line.offered == 1
    assert stay.wait_s == pytest.approx(120.0, abs=1.5)
    assert len(line.heard) == 4  # at 0, 30, 60, 90 s (and the offer at 120 s)
    assert queue_figures(board).messages == 1


def test_spoken_message_requests_and_dialled_codes() -> None:
    from voicebot.center.featurecodes import dialled_code
    from voicebot.center.queuespeech import asks_for_message

    assert asks_for_message("I'd like to leave a Message, please.")
    assert asks_for_message("can someone call me back")
    assert not asks_for_message("I am calling about my bill")
    assert not asks_for_message("the messaging app")  # a word, not the request
    assert dialled_code("sip:*41@127.0.0.1:5060") == "*41"
    assert dialled_code("<sip:%2342@10.0.0.1;transport=udp>") == "#42"
    assert dialled_code("sip:127.0.0.1") == ""


def test_the_board_follows_the_dialog_state_store(tmp_path: Path) -> None:
    """sip.acd_board auto: SQLite on one host, the dialog's Redis (or redis.serve's) on
    several; a wrong value is a ConfigError naming the key."""
    import copy

    from voicebot.center.board_api import board_location
    from voicebot.config import load_settings

    base = load_settings()
    assert board_location(base) == "sqlite"
    shared = copy.deepcopy(base)
    shared["dialog"]["tracker_store"] = "redis://10.0.0.5:6379/0"
    assert board_location(shared) == "redis://10.0.0.5:6379/0"
    served = copy.deepcopy(base)
    served["redis"].update({"serve": True, "port": 6390})
    assert board_location(served) == "redis://127.0.0.1:6390/0"
    pinned = copy.deepcopy(shared)
    pinned["sip"]["acd_board"] = "sqlite"
    assert board_location(pinned) == "sqlite"
    pinned["sip"]["acd_board"] = "postgres"
    with pytest.raises(ConfigError, match="acd_board"):
        board_location(pinned)


def test_an_unreachable_redis_board_is_a_store_error() -> None:
    from _redis import free_tcp_port

    from voicebot.errors import StoreError

    with pytest.raises(StoreError, match="cannot reach the agent board"):
        RedisBoard(f"redis://127.0.0.1:{free_tcp_port()}/0", load_agents())


def test_both_boards_give_the_same_day(tmp_path: Path, redis_url: str) -> None:
    """The same simulated hour on SQLite and on Redis: the same offers, waits and figures."""

    def day(board: Board) -> tuple[list[QueueStay], dict]:
        stays = run_virtual(
            simulate_day(
                board,
                ["billing", "sales"],
                16,
                60.0,
                seed=11,
                habits=AgentHabits(no_answer=0.2, refuse=0.1, talk_s_mean=100),
            )
        )
        return stays, queue_figures(board).as_dict()

    (tmp_path / "s").mkdir()
    on_sqlite = day(_opener("sqlite", None)(tmp_path / "s", roster(tmp_path)))
    on_redis = day(_opener("redis", redis_url)(tmp_path, roster(tmp_path)))
    assert on_sqlite[0] == on_redis[0]
    assert on_sqlite[1] == on_redis[1]
