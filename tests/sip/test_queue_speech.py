"""A caller waiting in the queue says they want to leave a message, over real SIP.

``voicebot serve`` (Kamailio, one worker running tests/sip/queue_handler.py with the real
Whisper listening to the waiting caller) hands each call to ``billing``, whose only agent
never registered: nobody is free, the caller waits. The caller (tests/sip/caller.py, pjsua2)
plays a recording made with flite, a voice that is not the bot's (Piper), and presses no
key. The outcome is read from the real agent board.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from acd_service import acd_service
from conftest import run_caller

AGENTS = """acd: {ring_timeout_s: 4, announce_every_s: 30, max_wait_s: 120}
agents:
  alice: {name: Alice Morgan, sip_user: alice, departments: [billing], password: alice-pw-1}
"""


def _say(folder: Path, name: str, text: str, lead_s: float) -> Path:
    """``text`` spoken by flite (its kal voice), 8 kHz mono PCM16, after ``lead_s`` of quiet."""
    raw, wav = folder / f"{name}-raw.wav", folder / f"{name}.wav"
    subprocess.run(["flite", "-voice", "kal", "-t", text, "-o", str(raw)], check=True)
    subprocess.run(
        ["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(wav), "pad", str(lead_s), "0"],
        check=True,
    )
    return wav


def test_saying_so_leaves_a_message_and_other_words_do_not(tmp_path: Path) -> None:
    wants = _say(tmp_path, "wants", "I would like to leave a message, please.", 1.0)
    other = _say(tmp_path, "other", "I am calling about my bill from last month.", 1.0)
    with acd_service(tmp_path, AGENTS, env={"VOICEBOT_TEST_LISTEN": "1"}) as svc:
        caller = run_caller(tmp_path, svc.target, user="0600000011", play=str(wants), duration=25)
        assert caller["connected"]
        assert svc.result("0600000011")["transfer"] == "no_answer"  # the session takes it
        # other words keep the caller waiting until they hang up (abandoned)
        caller = run_caller(tmp_path, svc.target, user="0600000012", play=str(other), duration=14)
        assert caller["connected"]
        assert svc.result("0600000012")["transfer"] == "failed"
        rows = svc.sql("SELECT state, ended_at - joined_at FROM queue ORDER BY joined_at")
    assert [r[0] for r in rows] == ["message", "abandoned"], rows
    assert rows[0][1] < 20, rows  # left on the words, not at the hang-up
