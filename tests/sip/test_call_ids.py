"""Hostile SIP Call-IDs over real SIP: the caller's Call-ID is data, never a name.

SIPp rings a real worker (demo handler, which records every call) with Call-IDs built to
escape its recording folder (``../../``), to make sub-folders (``a/b``) or to smuggle markup
and NUL-looking text. Every call must be answered, every file must land in the recording
folder under an internal call ID, and the SIP Call-ID must come back verbatim as data.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import Worker, render, sipp

from voicebot.callids import is_call_id

# SIPp's -cid_str: %u is the call number (SIPp needs a unique part), the rest is literal
HOSTILE = [
    "../../../../tmp/voicebot-escape-%u",
    "a/b/../../c-%u",
    "<script>alert(1)</script>-%u",
    "..-%u",
    "`rm`~!*'(x)[y]{z}?:\\-%u",
]


@pytest.mark.parametrize("cid_format", HOSTILE)
def test_hostile_call_id_is_only_data(worker: Worker, sip_dir: Path, cid_format: str) -> None:
    before = {p.name for p in worker.record_dir.glob("*")} if worker.record_dir.exists() else set()
    scenario = render("uac_speech_dtmf.xml", sip_dir, SPEECH_MS="800")
    res = sipp(scenario, worker.target, sip_dir, extra=("-cid_str", cid_format))
    assert res.returncode == 0 and res.successful == 1, res.log[-2000:]
    sent = re.search(r"^Call-ID:\s*(.+?)\s*$", res.messages, re.M | re.I)
    assert sent, "no Call-ID in the SIPp trace"
    call_id = sent.group(1)
    assert call_id.startswith(cid_format.split("%u")[0])  # SIPp really sent the hostile text
    report = worker.report_for(call_id)
    assert report["sip_call_id"] == call_id  # verbatim, as data
    assert is_call_id(report["call_id"])
    new = {p.name for p in worker.record_dir.glob("*")} - before
    assert new == {f"{report['call_id']}.wav", f"{report['call_id']}.json"}, new
    # nothing anywhere else: no sub-folder, nothing escaped the folder
    assert all(p.is_file() for p in worker.record_dir.iterdir())
    assert not list(Path("/tmp").glob("voicebot-escape-*"))
    assert not list(sip_dir.rglob("c-[0-9]")), "a file named from the Call-ID's tail"
    assert report["digits"], "the call was not served"
