"""The task-group (autogroup) nice value a service or worker gets, on the real kernel.

CI found the case the SIP tests did not cover on a developer's shell: ``voicebot serve``
started by a process that never made a session of its own (an init, a CI runner) runs in
the kernel's root task group, where ``/proc/self/autogroup`` is empty. Its children, each in a
session of its own, then kept their autogroups at 0: the services were not ahead of the
workers at all. The base is now serve's own nice value there.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator

import pytest

from voicebot.services import priority
from voicebot.services.priority import group_nice_of, set_group_nice


@pytest.fixture()
def child() -> Iterator[int]:
    """A process in a session (and so an autogroup) of its own, as serve starts them."""
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        # (a kernel without autogroup fails here: what these tests check cannot run there)
        assert group_nice_of(proc.pid) is not None, "no autogroup: /proc/PID/autogroup is empty"
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_a_child_group_is_set_from_our_own_group(child: int) -> None:
    base = priority.group_base()
    assert set_group_nice(child, 5)
    assert group_nice_of(child) == min(19, base + 5)


def test_from_the_root_task_group_the_base_is_our_nice_value(
    child: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = priority.group_nice_of
    monkeypatch.setattr(  # we, and only we, are in the root task group (as under CI's runner)
        priority, "group_nice_of", lambda pid: None if pid == os.getpid() else real(pid)
    )
    own_nice = os.getpriority(os.PRIO_PROCESS, 0)
    assert priority.group_base() == own_nice
    assert set_group_nice(child, 4)
    assert real(child) == min(19, own_nice + 4)  # what the kernel holds, read without the patch


def test_a_value_the_kernel_does_not_keep_is_reported(
    child: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = priority.group_nice_of
    calls = {"n": 0}

    def reads_stale(pid: int) -> int | None:  # the child reads 0 whatever was written
        if pid != child:
            return real(pid)
        calls["n"] += 1
        return 0

    monkeypatch.setattr(priority, "group_nice_of", reads_stale)
    with caplog.at_level(logging.WARNING, logger="voicebot.services.priority"):
        assert not set_group_nice(child, 6)
    assert calls["n"] == 2  # read before and after the write
    assert "does not keep it" in caplog.text


def test_a_process_that_is_gone_is_left_alone() -> None:
    gone = subprocess.Popen(["true"], start_new_session=True)
    gone.wait()
    assert group_nice_of(gone.pid) is None
    assert not set_group_nice(gone.pid, 3)
