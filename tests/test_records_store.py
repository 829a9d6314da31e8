"""Call records on both databases: SQLite (WAL file) and a real PostgreSQL server.

The PostgreSQL server is Debian's, started by the test in a temporary cluster
(tests/_postgres.py) and removed afterwards. Records are written through the same code
the recorder uses (``turn_row`` from real ``TurnLog`` objects, ``RecordStore.write``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from _postgres import postgres_server

from voicebot.calllog import TurnLog
from voicebot.records.recorder import REDACTED, turn_row
from voicebot.records.retention import run_retention
from voicebot.records.stats import compute_stats, compute_totals, percentile_from_buckets
from voicebot.records.store import RecordsConfig, RecordStore, migrate, schema_revision

DAY = datetime(2026, 11, 23)


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RecordStore]:
    if request.param == "sqlite":
        s = RecordStore(f"sqlite:///{tmp_path / 'records.sqlite3'}")
    else:
        url = request.getfixturevalue("pg_url")
        s = RecordStore(url)
    yield s
    if request.param == "postgresql":  # one server for the module: empty it for the next
        with s.engine.begin() as conn:
            for table in ("turns", "calls", "message_marks"):
                conn.execute(sa.text(f"DELETE FROM {table}"))
    s.close()


def _call(
    store: RecordStore,
    call_id: str,
    at: datetime,
    outcome: str | None,
    *,
    turns: list[TurnLog] = (),  # type: ignore[assignment]
    secret: set[int] = frozenset(),  # type: ignore[assignment]
    department: str | None = None,
    reason: str | None = None,
    duration: float = 60.0,
) -> None:
    store.write(
        call_id,
        start={
            "sip_call_id": f"sip-{call_id}",
            "caller_id": "+441632960001",
            "started_at": at,
            "start_hour": at.hour,
        },  # fmt: skip
    )
    store.write(call_id, turn_rows=[turn_row(t, t.index in secret, at) for t in turns])
    if outcome is not None:
        store.write(
            call_id,
            call={
                "status": "ended",
                "outcome": outcome,
                "department": department,
                "reason": reason,
                "duration_s": duration,
                "turn_count": len(turns),
            },  # fmt: skip
        )


def _turn(i: int, latency: float | None, intent: str | None, conf: float = 0.9, **kw) -> TurnLog:  # type: ignore[no-untyped-def]
    return TurnLog(index=i, start_s=i * 5.0, end_s=i * 5.0 + 2, heard=kw.pop("heard", "hello"),
                   asr_confidence=conf, source=kw.pop("source", "speech"), intent=intent,
                   intent_confidence=kw.pop("intent_confidence", 0.95), latency_ms=latency,
                   **kw)  # fmt: skip


def test_schema_is_migrated_to_head_and_reopening_is_harmless(store: RecordStore) -> None:
    assert schema_revision(store.engine) == "0003"
    again = RecordStore(store.url)  # a second process opening the same database
    assert schema_revision(again.engine) == "0003"
    names = set(sa.inspect(store.engine).get_table_names())
    assert {
        "calls",
        "turns",
        "message_marks",
        "stats_days",
        "queue_stays",
        "alembic_version",
    } <= names
    again.close()


def test_an_old_schema_is_upgraded_in_place_keeping_its_records(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    old = RecordStore(url, upgrade=False)
    migrate(old.engine, "0001")  # the first release's schema, with a call in it
    assert schema_revision(old.engine) == "0001"
    _call(old, "kept", DAY, "resolved", turns=[_turn(1, 300, "x")])
    assert "stats_days" not in sa.inspect(old.engine).get_table_names()
    old.close()
    new = RecordStore(url)
    assert schema_revision(new.engine) == "0003"
    assert new.get_call("kept") is not None and len(new.call_turns("kept")) == 1
    new.close()


def test_a_call_is_written_as_it_goes_and_read_back(store: RecordStore) -> None:
    at = DAY.replace(hour=9)
    _call(store, "c1", at, None, turns=[_turn(1, 500.0, "check_balance")])
    live = store.live_calls()
    assert [c["id"] for c in live] == ["c1"] and live[0]["status"] == "live"
    # the account number turn: redacted; the latency arrives later and replaces the row
    t2 = _turn(2, None, "inform", heard="one two three four five six seven eight")
    store.write("c1", turn_rows=[turn_row(t2, True, at)])
    t2.latency_ms = 812.0
    store.write("c1", turn_rows=[turn_row(t2, True, at)])
    turns = store.call_turns("c1")
    assert [t["idx"] for t in turns] == [1, 2]
    assert turns[1]["heard"] == REDACTED and turns[1]["latency_ms"] == 812.0
    assert turns[1]["latency_bucket"] == 81
    store.write("c1", call={"status": "ended", "outcome": "resolved", "duration_s": 42.5})
    call = store.find_call("sip-c1")
    assert call is not None and call["id"] == "c1" and call["outcome"] == "resolved"
    assert store.live_calls() == []


def test_statistics_of_a_day(store: RecordStore) -> None:
    # 2 resolved, 1 routed to billing, 1 message for contracts, 1 abandoned, 1 live; one
    # call the day before (outside the range)
    _call(store, "a", DAY.replace(hour=9), "resolved", duration=30,
          turns=[_turn(1, 400, "check_balance"), _turn(2, 600, "deny", conf=0.5)])  # fmt: skip
    _call(store, "b", DAY.replace(hour=9, minute=30), "resolved", duration=50,
          turns=[_turn(1, 800, "opening_hours", conf=0.7)])  # fmt: skip
    _call(store, "c", DAY.replace(hour=14), "routed", department="billing", reason="routed",
          duration=70, turns=[_turn(1, 1000, "billing_question", conf=0.6),
                              _turn(2, 2000, "inform", source="dtmf", conf=1.0)])  # fmt: skip
    _call(store, "d", DAY.replace(hour=18), "message", department="contracts",
          reason="out_of_hours", duration=90)  # fmt: skip
    _call(store, "e", DAY.replace(hour=18, minute=5), "abandoned", duration=10)
    _call(store, "f", DAY.replace(hour=20), None)
    _call(store, "old", DAY - timedelta(hours=2), "resolved", turns=[_turn(1, 9000, "x")])
    st = compute_stats(store, DAY, DAY + timedelta(days=1))
    # the day is closed but call f is still live: nothing stored yet
    assert store.rollups([DAY.date().isoformat()]) == {}
    assert st.calls == 6 and st.live == 1 and st.ended == 5
    assert st.outcomes == {"resolved": 2, "routed": 1, "message": 1, "abandoned": 1}
    assert st.containment == pytest.approx(2 / 5)
    assert st.handoffs == 2 and st.abandoned == 1
    assert st.handoffs_by_department == {"billing": 1, "contracts": 1}
    assert st.handoffs_by_reason == {"routed": 1, "out_of_hours": 1}
    assert st.avg_duration_s == pytest.approx((30 + 50 + 70 + 90 + 10) / 5)
    assert st.calls_per_hour[9] == 2 and st.calls_per_hour[18] == 2 and sum(st.calls_per_hour) == 6
    assert st.turns == 5
    # latencies 400, 600, 800, 1000, 2000 ms, nearest rank: p50 800 (its bucket's middle
    # 805), p95 2000
    assert st.latency_p50_ms == 805.0
    assert st.latency_p95_ms == 2005.0
    assert st.asr_confidence == pytest.approx((0.9 + 0.5 + 0.7 + 0.6) / 4)  # dtmf left out
    assert dict(st.top_intents) == {"check_balance": 1, "deny": 1, "opening_hours": 1,
                                    "billing_question": 1, "inform": 1}  # fmt: skip
    store.write("f", call={"status": "ended", "outcome": "abandoned", "duration_s": 5.0})
    direct = compute_stats(store, DAY - timedelta(days=1), DAY + timedelta(days=1), rollups=False)
    first = compute_stats(store, DAY - timedelta(days=1), DAY + timedelta(days=1))
    assert set(store.rollups([DAY.date().isoformat()])) == {DAY.date().isoformat()}
    again = compute_stats(store, DAY - timedelta(days=1), DAY + timedelta(days=1))
    assert direct == first == again and direct.calls == 7 and direct.live == 0
    store.write("f", call={"status": "live", "outcome": None})
    totals = compute_totals(store)
    assert totals.live == 1 and totals.outcomes["resolved"] == 3
    assert totals.latency_count == 6
    assert dict(totals.latency_le)[0.5] == 1 and dict(totals.latency_le)[1.0] == 3
    assert dict(totals.latency_le)[float("inf")] == 6


def test_review_lists_not_understood_and_low_confidence_turns_never_secrets(
    store: RecordStore,
) -> None:
    at = DAY.replace(hour=10)
    _call(store, "r", at, "abandoned", secret={3}, turns=[
        _turn(1, 500, "nlu_fallback", heard="can i speak about my <b>dog</b>"),
        _turn(2, 500, "check_balance", heard="what do i owe", intent_confidence=0.3),
        _turn(3, 500, None, heard="12345678"),
        _turn(4, 500, "opening_hours", heard="when are you open"),
    ])  # fmt: skip
    rows = store.review_turns(DAY, DAY + timedelta(days=1), 0.5, ["nlu_fallback"])
    assert sorted(r["heard"] for r in rows) == ["can i speak about my <b>dog</b>", "what do i owe"]
    assert [t["heard"] for t in store.turns_by_id([r["id"] for r in rows])]


def test_message_marks_are_appended_never_replaced(store: RecordStore) -> None:
    store.mark_message(7, "billing", "done", "alex")
    store.mark_message(7, "billing", "open", "sam")
    store.mark_message(7, "billing", "done", "sam")
    assert store.message_marks()[7]["by"] == "sam" and store.message_marks()[7]["state"] == "done"
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM message_marks")).scalar_one() == 3


def test_retention_deletes_old_records_and_recordings_and_closes_stale_calls(
    store: RecordStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOICEBOT_VAR", str(tmp_path))
    now = datetime.utcnow()
    wav = tmp_path / "old.wav"
    wav.write_bytes(b"RIFF")
    _call(store, "old", now - timedelta(days=40), "resolved", turns=[_turn(1, 300, "x")])
    store.write("old", call={"recording_path": str(wav)})
    _call(store, "new", now - timedelta(days=2), "resolved", turns=[_turn(1, 300, "x")])
    _call(store, "cut", now - timedelta(hours=3), None)  # a crash left it "live"
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE calls SET updated_at = :t WHERE id = 'cut'"),
                     {"t": now - timedelta(hours=2)})  # fmt: skip
    deleted, files = run_retention(store, RecordsConfig(retention_days=30, stale_after_s=3600))
    assert (deleted, files) == (1, 1) and not wav.exists()
    assert store.get_call("old") is None and store.call_turns("old") == []
    assert store.get_call("new") is not None
    cut = store.get_call("cut")
    assert cut is not None and cut["status"] == "ended" and cut["outcome"] == "error"


def test_percentiles_from_buckets() -> None:
    assert percentile_from_buckets({}, 0.5) is None
    assert percentile_from_buckets({10: 1}, 0.95) == 105.0
    assert percentile_from_buckets({1: 50, 100: 50}, 0.5) == 15.0
    assert percentile_from_buckets({1: 49, 100: 51}, 0.5) == 1005.0


def test_a_bad_database_url_is_a_clear_error() -> None:
    from voicebot.errors import StoreError

    with pytest.raises(StoreError, match="call records"):
        RecordStore("postgresql+psycopg2://nobody@127.0.0.1:1/none")
