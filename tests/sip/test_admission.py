"""Admission control through ``voicebot serve``: real SIP on 127.0.0.1 (SIPp callers,
Kamailio, two demo workers). The host's capacity (``sip.max_calls: 3``) is below its
workers' slots (2 x 4): of more simultaneous calls than that, exactly the capacity is
answered and completes normally, the rest get Kamailio's 503 with Retry-After at once (no
worker sees them), calls in progress go on, no worker restarts, and once the calls have
ended new calls are admitted again. The demo handler stands in for the voice pipeline (no
models): this test is about the counting and the refusals, not about speech."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import PYTHON, ROOT, free_port, invite_outcomes, render, require_peers, sipp

from voicebot.telephony.settings import SipSettings

KAMAILIO = Path("/usr/sbin/kamailio")
CAPACITY = 3
RETRY_AFTER_S = 7
HOLD_MS = "4000"


@dataclass
class Served:
    proc: subprocess.Popen[str]
    port: int
    record_dir: Path
    lines: list[str]

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def reports(self) -> list[dict]:
        import json

        return [json.loads(p.read_text()) for p in self.record_dir.glob("*.json")]

    def output(self) -> str:
        return "".join(self.lines)

    def kamailio_log(self) -> str:
        return (self.record_dir.parent / "var" / "sip" / "kamailio" / "kamailio.log").read_text(
            errors="replace"
        )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    require_peers()
    if not KAMAILIO.exists():
        pytest.skip("kamailio (Debian package) not installed")
    folder = tmp_path_factory.mktemp("admission")
    cfg = folder / "settings.yml"
    cfg.write_text(
        "sip:\n  rtp_ports: 40\n  shutdown_grace_s: 10\n  media_timeout_s: 10\n"
        f"  max_calls: {CAPACITY}\n  retry_after_s: {RETRY_AFTER_S}\n"
    )
    port, workers, rtp = free_port(), free_port(2), free_port(80)
    env = {
        **os.environ,
        "VOICEBOT_CONFIG": str(cfg),
        "VOICEBOT_VAR": str(folder / "var"),
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.Popen(
        [PYTHON, "-m", "voicebot.cli", "serve", "--demo", "--demo-record-dir",
         str(folder / "calls"), "--port", str(port), "--workers", "2",
         "--worker-base-port", str(workers), "--rtp-base-port", str(rtp)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    while not any("answering SIP" in line for line in lines) and proc.poll() is None:
        line = proc.stdout.readline()
        if not line or len(lines) > 80:
            break
        lines.append(line)
    assert any("answering SIP" in line for line in lines), "".join(lines) + proc.stdout.read()
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()  # type: ignore[arg-type]
    yield Served(proc, port, folder / "calls", lines)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def test_capacity_is_printed_at_start(served: Served) -> None:
    banner = next(line for line in served.lines if "answering SIP" in line)
    assert f"capacity {CAPACITY} calls on 127.0.0.1" in banner, banner
    assert f"Retry-After {RETRY_AFTER_S} s" in banner, banner


def test_beyond_capacity_refused_with_503_and_calls_in_progress_go_on(
    served: Served, tmp_path: Path
) -> None:
    offered = CAPACITY + 3
    started = time.monotonic()
    res = sipp(
        render("uac_admission.xml", tmp_path, HOLD_MS=HOLD_MS),
        served.target,
        tmp_path,
        calls=offered,
        rate=500,  # every INVITE within 12 ms: all offered at once
        timeout_s=40,
    )
    took = time.monotonic() - started
    assert res.returncode == 0 and res.successful == offered, res.log[-3000:]
    ok, refused, retry, busy = invite_outcomes(res)
    assert (ok, refused, busy) == (CAPACITY, offered - CAPACITY, 0), res.messages[-4000:]
    assert retry == [str(RETRY_AFTER_S)] * refused
    assert took < 40, "a call hung"
    # the admitted calls completed normally (the caller's BYE answered 200, media recorded);
    # the refused ones never reached a worker
    deadline = time.monotonic() + 15
    while len(served.reports()) < CAPACITY and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    reports = served.reports()
    assert len(reports) == CAPACITY, reports
    assert all(r["frames"] >= 100 for r in reports), [r["frames"] for r in reports]
    # the supervisor reports the refusals with calls/capacity
    deadline = time.monotonic() + 15
    while "refused 3" not in served.output() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert re.search(
        rf"health: calls \d/{CAPACITY} on 127\.0\.0\.1; refused {offered - CAPACITY}",
        served.output(),
    ), served.output()[-3000:]


def test_after_calls_end_new_calls_are_admitted_again(served: Served, tmp_path: Path) -> None:
    before = len(served.reports())
    res = sipp(
        render("uac_admission.xml", tmp_path, HOLD_MS="1500"),
        served.target,
        tmp_path,
        calls=CAPACITY,
        rate=50,
        timeout_s=30,
    )
    assert res.returncode == 0 and res.successful == CAPACITY, res.log[-3000:]
    ok, refused, _, busy = invite_outcomes(res)
    assert (ok, refused, busy) == (CAPACITY, 0, 0), res.messages[-4000:]
    deadline = time.monotonic() + 15
    while len(served.reports()) < before + CAPACITY and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(served.reports()) == before + CAPACITY


def test_bursts_admit_exactly_the_capacity(served: Served) -> None:
    """Ten bursts of six INVITEs, each burst sent within about a millisecond from one
    socket (tests/sip/burst.py; SIPp paces its INVITEs 2 ms apart): every burst gets
    exactly the capacity answered and the rest refused, and once its calls are hung up
    Kamailio counts no call on the host before the next burst (a place is reusable at once)."""
    from burst import BurstCaller, wait_free

    ctl = f"unix:{served.record_dir.parent / 'var' / 'sip' / 'kamailio' / 'ctl.sock'}"
    caller = BurstCaller(("127.0.0.1", served.port))
    outcomes = []
    try:
        for _ in range(10):
            assert wait_free(ctl, ["127.0.0.1"]) == {"127.0.0.1": 0}
            b = caller.burst(CAPACITY + 3, hold_s=0.2)
            outcomes.append((b.answered, b.refused, b.other, b.byes_ok))
    finally:
        caller.close()
    assert outcomes == [({"127.0.0.1": CAPACITY}, 3, {}, CAPACITY)] * 10, outcomes
    assert wait_free(ctl, ["127.0.0.1"]) == {"127.0.0.1": 0}


def test_the_admission_lock_works(served: Served) -> None:
    """route[ADMIT] counts under cfgutils' lock("admission"); without cfgutils'
    lock_set_size, lock() locks nothing and logs "lock set not initialized" at each call
    (issue 11's race). After the bursts above, Kamailio logged no such error."""
    text = served.kamailio_log()
    assert "every host full: INVITE from 127.0.0.1 refused (503)" in text, text[-3000:]
    assert "lock set not initialized" not in text, text[-3000:]
    assert "cfg_lock_helper" not in text, text[-3000:]


def test_no_worker_restarted(served: Served) -> None:
    out = served.output()
    assert "restarting" not in out and " died " not in out, out[-3000:]
    assert served.proc.poll() is None
    pids = {r["worker_pid"] for r in served.reports()}
    assert 1 <= len(pids) <= 2  # the two workers that started, no replacement


def test_host_capacity_is_max_calls_capped_at_the_slots() -> None:
    assert SipSettings(workers=4, max_calls=8).host_capacity(4) == 8
    assert SipSettings(workers=1, max_calls=8).host_capacity(1) == 4
    assert SipSettings(workers=3, max_calls=0).host_capacity(3) == 12


def test_every_worker_line_names_its_host_and_that_hosts_capacity(tmp_path: Path) -> None:
    from voicebot.telephony.kamailio import remote_workers_of, workers_of, write_config

    sip = SipSettings(
        workers=2,
        max_calls=6,
        remote_workers=("10.0.0.5:5070", "10.0.0.5:5071", "10.0.0.6:5070"),
    )
    cfg = write_config(sip, workers_of(sip) + remote_workers_of(sip), tmp_path)
    lines = (tmp_path / "dispatcher.list").read_text().splitlines()[1:]
    assert lines == [
        "1 sip:127.0.0.1:5070 0 0 name=worker-0;host=127.0.0.1;maxcalls=6",
        "1 sip:127.0.0.1:5071 0 0 name=worker-1;host=127.0.0.1;maxcalls=6",
        "1 sip:10.0.0.5:5070 0 0 name=remote-0;host=10.0.0.5;maxcalls=6",
        "1 sip:10.0.0.5:5071 0 0 name=remote-1;host=10.0.0.5;maxcalls=6",
        "1 sip:10.0.0.6:5070 0 0 name=remote-2;host=10.0.0.6;maxcalls=4",  # one worker's slots
    ]
    text = cfg.read_text()
    assert "Retry-After: 30" in text and 'sl_send_reply("503", "Host Full")' in text
    assert 'modparam("cfgutils", "lock_set_size", 4)' in text  # lock("admission") locks
    check = subprocess.run([str(KAMAILIO), "-f", str(cfg), "-c"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr[-2000:]


def test_bad_capacity_is_a_config_error() -> None:
    from voicebot.errors import ConfigError

    with pytest.raises(ConfigError, match="max_calls"):
        SipSettings(max_calls=-1)
