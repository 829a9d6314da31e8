"""Kamailio's ERROR lines are seen: the reader (voicebot/telephony/kamlog.py), the check every
test that starts Kamailio runs (tests/_kamailio_log.py), and positive controls that show the
check fails on an error line: a pytest run whose test leaves such a line in a kamailio.log,
and a real Kamailio whose config lacks cfgutils' ``lock_set_size`` (issue 11's regression)
logging "lock set not initialized" for one INVITE, which the watch and the check both catch."""

from __future__ import annotations

import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from _kamailio_log import ALLOWED, LogScan, scan_of, unexpected

from voicebot.telephony import kamailio as kamailio_mod
from voicebot.telephony.kamailio import KamailioProcess, Worker
from voicebot.telephony.kamlog import KamailioLogWatch, parse_line, serious_lines
from voicebot.telephony.settings import SipSettings
from voicebot.telephony.supervisor import Supervisor

pytest_plugins = ("pytester",)


@pytest.fixture(scope="module", autouse=True)
def kamailio_log_check(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Replaces the check of tests/_kamailio_log.py for this module only: its tests leave
    error lines in kamailio.log files on purpose and assert on them themselves. They are
    marked read at the end, so the next module's check does not judge them either."""
    yield
    scan_of(tmp_path_factory.getbasetemp()).new_problems()


KAMAILIO = Path("/usr/sbin/kamailio")
# Lines as Kamailio 5.6 writes them (process number, pid, level, module).
LOCK_ERROR = (
    " 1(13109) ERROR: cfgutils [cfgutils.c:733]: w_lock(): lock set not initialized"
    " (attempt to do op: 0 on: admission) - see lock_set_size\n"
)
NOTICE = " 1(13109) NOTICE: kamailio: <script>: every host full: INVITE from 127.0.0.1 refused\n"
WARNING = " 2(13110) WARNING: <script>: malformed INVITE from 127.0.0.1:5070\n"
BANNER = "Listening on \n             udp: 127.0.0.1 [127.0.0.1]:5060\n"
ALERT = " 0(13108) ALERT: <core> [main.c:770]: handle_sigs(): child process 13109 exited\n"


def test_levels_are_read_and_only_error_or_worse_is_serious() -> None:
    line = parse_line(LOCK_ERROR)
    assert line is not None and line.level == "ERROR" and line.serious
    assert line.text.startswith("cfgutils [cfgutils.c:733]: w_lock(): lock set not initialized")
    assert parse_line(NOTICE) is not None and not parse_line(NOTICE).serious  # type: ignore[union-attr]
    assert parse_line(WARNING).level == "WARNING"  # type: ignore[union-attr]
    assert parse_line("Listening on ") is None
    text = BANNER + NOTICE + LOCK_ERROR + WARNING + ALERT
    assert [x.level for x in serious_lines(text)] == ["ERROR", "ALERT"]


def test_the_check_flags_errors_unless_allowed_with_a_reason() -> None:
    text = NOTICE + WARNING + LOCK_ERROR
    assert [str(x) for x in unexpected(text)] == [str(parse_line(LOCK_ERROR))]
    allowed = (("lock set not initialized", "a test of the allow-list"),)
    assert unexpected(text, allowed) == []
    assert unexpected(NOTICE + WARNING + BANNER) == []
    for pattern, why in ALLOWED:  # every entry says why the line is expected
        assert pattern and len(why) > 20, (pattern, why)


def test_tcp_eof_is_shutdown_noise_only_after_the_main_process_took_sigterm() -> None:
    """Lines from a real stop (tests/test_redis_server.py's serve, stopped at once)."""
    stop = (
        " 0(16436) NOTICE: <core> [main.c:733]: handle_sigs(): Thank you for flying kamailio!!!\n"
    )
    eof = "11(16447) CRITICAL: <core> [core/pass_fd.c:277]: receive_fd(): EOF on 10\n"
    assert unexpected(BANNER + stop + eof + eof) == []
    assert [x.level for x in unexpected(BANNER + eof + stop)] == ["CRITICAL"]  # while running
    assert len(unexpected(stop + "loading modules under config path: /usr/lib\n" + eof)) == 1
    assert len(unexpected(stop + LOCK_ERROR)) == 1  # other errors count during a stop too


def test_scan_judges_each_line_once_and_waits_for_a_complete_line(tmp_path: Path) -> None:
    log = tmp_path / "a" / "var" / "sip" / "kamailio" / "kamailio.log"
    log.parent.mkdir(parents=True)
    log.write_text(BANNER + NOTICE)
    scan = LogScan(tmp_path)
    assert scan.new_problems() == []
    with open(log, "a") as f:
        f.write(LOCK_ERROR + ALERT.rstrip("\n"))  # the ALERT line is still being written
    first = scan.new_problems()
    assert len(first) == 1 and "lock set not initialized" in first[0] and str(log) in first[0]
    with open(log, "a") as f:
        f.write("\n")
    second = scan.new_problems()
    assert len(second) == 1 and "ALERT" in second[0]
    assert scan.new_problems() == []


def test_watch_returns_new_error_lines_and_counts_them(tmp_path: Path) -> None:
    log = tmp_path / "kamailio.log"
    log.write_text(LOCK_ERROR)  # (an earlier run's line: the watch starts after it)
    watch = KamailioLogWatch(log)
    assert watch.poll() == []
    with open(log, "a") as f:
        f.write(NOTICE + LOCK_ERROR + LOCK_ERROR[:30])
    assert [x.level for x in watch.poll()] == ["ERROR"] and watch.count == 1
    with open(log, "a") as f:
        f.write(LOCK_ERROR[30:])
    assert len(watch.poll()) == 1 and watch.count == 2
    assert KamailioLogWatch(tmp_path / "missing.log").poll() == []


def test_positive_control_a_test_leaving_an_error_line_fails_the_run(
    pytester: pytest.Pytester,
) -> None:
    """The autouse fixture in a pytest run of its own: a module whose test leaves an ERROR
    line in a kamailio.log errors at teardown and names the line; one that leaves only
    NOTICE and WARNING lines passes."""
    pytester.makeconftest("from _kamailio_log import kamailio_log_check  # noqa: F401\n")
    body = """
from pathlib import Path

def test_it(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve") / "var" / "sip" / "kamailio"
    folder.mkdir(parents=True)
    (folder / "kamailio.log").write_text({text!r})
"""
    pytester.makepyfile(
        test_bad=body.format(text=BANNER + NOTICE + LOCK_ERROR),
        test_good=body.format(text=BANNER + NOTICE + WARNING),
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    out = result.stdout.str()
    assert "ERROR at teardown of test_it" in out
    assert "Kamailio logged 1 unexpected ERROR-or-worse line" in out
    assert "lock set not initialized" in out


def _invite(address: str, port: int, source_port: int) -> bytes:
    call_id, tag, branch = uuid.uuid4().hex, uuid.uuid4().hex[:8], uuid.uuid4().hex[:16]
    return (
        f"INVITE sip:bot@{address}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {address}:{source_port};branch=z9hG4bK{branch};rport\r\n"
        f"From: <sip:caller@{address}:{source_port}>;tag={tag}\r\n"
        f"To: <sip:bot@{address}:{port}>\r\n"
        f"Call-ID: {call_id}@{address}\r\n"
        "CSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
        f"Contact: <sip:caller@{address}:{source_port}>\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def test_positive_control_real_kamailio_without_lock_set_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 11's regression, for real: the generated config without cfgutils'
    ``lock_set_size``; one INVITE reaches ``route[ADMIT]``, whose ``lock()`` only logs
    "lock set not initialized". ``voicebot serve``'s supervisor repeats it on stderr (and
    its total once Kamailio stopped), and the tests' check flags it. (The worker the INVITE
    is dispatched to is a bare UDP socket that never answers: no worker is needed to reach
    the lock.)"""
    if not KAMAILIO.exists() or shutil.which("kamcmd") is None:
        pytest.skip("kamailio (Debian package) not installed")
    monkeypatch.setattr(kamailio_mod, "kamailio_params", lambda: "")
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as worker,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as caller,
    ):
        worker.bind(("127.0.0.1", 0))
        caller.bind(("127.0.0.1", 0))
        port = _free_udp_tcp_port()
        settings = SipSettings(address="127.0.0.1", port=port, dialog_keepalive_s=0)
        folder = tmp_path / "var" / "sip" / "kamailio"
        proc = KamailioProcess(
            settings, [Worker("worker-0", "127.0.0.1", worker.getsockname()[1], 0)], folder
        )
        supervisor = Supervisor(settings, {}, tmp_path)  # (only its Kamailio log watch)
        supervisor.kamlog = KamailioLogWatch(proc.log_path)
        proc.start()
        try:
            caller.sendto(_invite("127.0.0.1", port, caller.getsockname()[1]), ("127.0.0.1", port))
            said = ""
            end = time.monotonic() + 10
            while "voicebot: kamailio ERROR" not in said and time.monotonic() < end:
                supervisor._report_kamailio_errors()
                said += capsys.readouterr().err
                time.sleep(0.2)
        finally:
            proc.stop()
    supervisor._report_kamailio_errors(final=True)
    said += capsys.readouterr().err
    assert "voicebot: kamailio ERROR: kamailio: cfgutils [cfgutils.c:" in said, said
    assert "lock set not initialized" in said
    repeated = said.count("voicebot: kamailio ERROR")  # lock() and unlock(): 2 per INVITE
    assert repeated >= 2, said
    assert f"Kamailio logged {repeated} error line(s) since start (see {proc.log_path})" in said
    problems = LogScan(tmp_path).new_problems()
    assert any("lock set not initialized" in p for p in problems), problems


def _free_udp_tcp_port() -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = int(u.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")
