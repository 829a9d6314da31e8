"""Three registered agents, calls one after another, over real SIP on 127.0.0.1.

``voicebot serve`` (Kamailio as the agents' registrar, one worker) runs
tests/sip/queue_handler.py: each call is handed off to ``billing`` through the built-in ACD
(the Rasa dialog before the hand-off is left out, see that module). alice, bilal and chen are
real pjsua2 phones (tests/sip/agent_phone.py) that register with digest auth and send a
refresh REGISTER every 2 s all through the test; the board is the real SQLite agent board
the supervisor and worker share.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from acd_service import DashboardAgent, acd_service, dashboard
from conftest import run_caller

AGENTS = """acd:
  ring_timeout_s: 4
  wrap_up_s: 300
  announce_every_s: 30
  max_wait_s: 120
agents:
  alice: {name: Alice Morgan, sip_user: alice, departments: [billing], password: alice-pw-1}
  bilal: {name: Bilal Khan, sip_user: bilal, departments: [billing], password: bilal-pw-2}
  chen: {name: Chen Li, sip_user: chen, departments: [billing], password: chen-pw-33}
"""


def test_calls_go_to_the_longest_idle_agent_skipping_wrap_up_paused_and_missed(
    tmp_path: Path,
) -> None:
    """alice registers first (idle longest), then bilal, then chen (who never answers).

    Call 1 goes to alice; she hears the whisper, talks and hangs up: wrap-up (300 s).
    bilal pauses with his dashboard page's button. Call 2 skips alice (wrap-up) and bilal
    (paused) and rings chen, who lets it ring past ``ring_timeout_s``: he is marked missed
    and the call waits; bilal resumes (the button) and gets it. The phones refresh their
    registration every 2 s: no refresh changes a state."""
    with acd_service(tmp_path, AGENTS) as svc:
        common = ("--reregister-every", "2", "--expires", "120", "--max-calls", "2")
        reports = {}
        for user, opts in (
            ("alice", ("--answer-after", "0.5", "--talk", "20")),
            ("bilal", ("--answer-after", "0.5", "--talk", "20")),
            ("chen", ("--no-answer",)),
        ):
            reports[user] = svc.phone(user, tmp_path, *common, *opts, "--duration", "180")
            time.sleep(1.0)  # a clear longest-idle order
        caller1 = run_caller(tmp_path, svc.target, user="0600000001", duration=45)
        assert caller1["connected"]
        assert svc.result("0600000001")["transfer"] == "accepted"
        assert svc.wait_state("alice", "wrap_up").state == "wrap_up"
        # bilal pauses with the button of his dashboard page (the real app, same board)
        web = dashboard(svc.board(), tmp_path, {"bilal": "bilal-dash-1"})
        with web as base, ThreadPoolExecutor(1) as pool:
            bilal = DashboardAgent(base, "bilal", "bilal-dash-1")
            assert bilal.state() == "available"
            assert bilal.press("pause") == "paused"
            call2 = pool.submit(run_caller, tmp_path, svc.target, user="0600000002", duration=80)
            missed = svc.wait_state("chen", "missed", timeout_s=25)
            assert missed.state == "missed" and missed.missed == 1, missed
            time.sleep(2.5)  # a refresh or two while alice wraps up, bilal and chen paused
            states = {k: s.state for k, s in svc.status().items()}
            assert states == {"alice": "wrap_up", "bilal": "paused", "chen": "missed"}, states
            assert bilal.press("resume") == "available"
            caller2 = call2.result(120)
        assert caller2["connected"]
        assert svc.result("0600000002")["transfer"] == "accepted"
        svc.stop_phones(terminate=True)
        status = svc.status()
        offers = svc.offers()
        rows = svc.sql("SELECT state, agent FROM queue ORDER BY joined_at")
    phones = {user: json.loads(path.read_text()) for user, path in reports.items()}
    # who rang, seen from the phones: alice once, chen once (unanswered), bilal once
    assert [phones[u]["calls"] for u in ("alice", "bilal", "chen")] == [1, 1, 1], phones
    assert [phones[u]["answered"] for u in ("alice", "bilal", "chen")] == [1, 1, 0]
    assert phones["chen"]["last_code"] == 487  # the worker's CANCEL after ring_timeout_s
    # the phones kept refreshing all along, and every REGISTER was accepted
    for user, report in phones.items():
        refreshes = [e for e in report["events"] if e["event"] == "refresh"]
        assert len(refreshes) >= 8, (user, len(refreshes))
        assert set(report["reg_codes"]) == {200}, report["reg_codes"]  # pjsua answers 401s
    # the board: who took which call, and each agent's own state after it
    assert offers == [[("alice", "answered")], [("chen", "missed"), ("bilal", "answered")]]
    assert rows == [("answered", "alice"), ("answered", "bilal")]
    assert status["alice"].state == "wrap_up" and status["alice"].calls == 1
    assert status["bilal"].state == "wrap_up" and status["bilal"].calls == 1
    assert status["chen"].state == "missed" and status["chen"].calls == 0
    assert status["alice"].talk_s > 2 and status["bilal"].talk_s > 2
