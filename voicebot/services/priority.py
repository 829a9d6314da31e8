"""CPU priority of the host's services (``services.speech_nice`` / ``dialog_nice``) and workers
(``sip.worker_nice``).

Each service and worker is started in a session of its own (``start_new_session``), and with
the kernel's *autogroup* scheduling (``/proc/sys/kernel/sched_autogroup_enabled`` = 1, the
default of Debian's and most desktop kernels) every session is a task group: the CPU is
shared between the groups first, each at the weight of its *autogroup nice* value, and a
thread's own nice value counts only against the threads of its own group. So a worker or
service started through ``nice -n N`` alone is not behind or ahead of the others at all
(measured here: two busy loops in two sessions on one core, one at nice -10, got 50 % each;
with its autogroup at -10, 90 %). A process is therefore started with both: ``nice -n N``
before its Python starts (every thread it makes later has it, which is what counts when
autogroup is off or a cgroup replaces it) and, once started, its session's autogroup at the
same value (:func:`set_group_nice`). ``N`` is relative to ``voicebot serve``'s own value.

A negative value needs CAP_SYS_NICE (root) or a large enough ``RLIMIT_NICE``: when the host
does not permit it, :func:`permitted_nice` says so once and the services run at serve's own
value; the start never fails for it.
"""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def nice_of(pid: int) -> int:
    """The nice value of process ``pid`` (field 19 of ``/proc/PID/stat``)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def group_nice_of(pid: int) -> int | None:
    """The autogroup nice value of process ``pid``'s session (None: no autogroup support)."""
    try:
        return int(Path(f"/proc/{pid}/autogroup").read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        return None


def group_base() -> int:
    """The nice value our children's task groups are counted from: our own autogroup's, or,
    when we run in the root task group (a process never moved into a session of its own,
    e.g. started straight by an init or a CI runner: ``/proc/self/autogroup`` is empty), our
    own nice value, which is what our threads compete at there."""
    own = group_nice_of(os.getpid())
    return own if own is not None else os.getpriority(os.PRIO_PROCESS, 0)


def set_group_nice(pid: int, increment: int) -> bool:
    """Put the autogroup of ``pid``'s session (a session of its own: ``start_new_session``)
    ``increment`` steps from :func:`group_base`; False when the kernel has no autogroup for it
    or refuses, or the value read back is not the one written (both logged). The kernel takes
    at most ten such writes a second from a process without CAP_SYS_ADMIN (EAGAIN): retried
    for up to 2 s."""
    current = group_nice_of(pid)
    if current is None:  # no autogroup (kernel without it, or pid is gone)
        return False
    value = max(-20, min(19, group_base() + increment))
    if current == value:
        return True
    deadline = time.monotonic() + 2.0
    while True:
        try:
            Path(f"/proc/{pid}/autogroup").write_text(str(value))
            break
        except OSError as exc:
            if exc.errno == errno.EAGAIN and time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            if exc.errno != errno.ESRCH:  # (a process that already exited: nothing to do)
                log.warning("could not set the autogroup nice of pid %d to %d: %s", pid, value, exc)
            return False
    after = group_nice_of(pid)
    if after is not None and after != value:
        log.warning(
            "the autogroup nice of pid %d reads %d after writing %d: this kernel does not keep "
            "it, so the process competes for the CPU at its nice value only",
            pid,
            after,
            value,
        )
        return False
    return True


def can_lower_nice(increment: int) -> bool:
    """Whether a child of this process may run at ``increment`` below our nice value.

    Raising it (``increment >= 0``) is always allowed; lowering it is tried in a throwaway
    Python process (``os.nice``), as the kernel decides it (capabilities, ``RLIMIT_NICE``,
    user namespaces), which a look at our own capabilities would not tell reliably.
    """
    if increment >= 0:
        return True
    probe = subprocess.run(
        [sys.executable, "-S", "-c", f"import os; os.nice({increment})"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return probe.returncode == 0


def permitted_nice(wanted: dict[str, int]) -> dict[str, int]:
    """Service name -> the nice increment it will run at: the ``wanted`` one, or 0 for the
    negative ones this host does not permit (one warning naming them all)."""
    allowed = {n: can_lower_nice(n) for n in set(wanted.values())}
    denied = {name: n for name, n in wanted.items() if not allowed[n]}
    if denied:
        log.warning(
            "services.%s: a negative nice value needs CAP_SYS_NICE (run voicebot serve as "
            "root, or raise RLIMIT_NICE); the %s service%s at nice %d instead, as voicebot serve",
            " / ".join(f"{name}_nice {n}" for name, n in denied.items()),
            " and ".join(denied),
            "s run" if len(denied) > 1 else " runs",
            os.getpriority(os.PRIO_PROCESS, 0),
        )
    return {name: 0 if name in denied else n for name, n in wanted.items()}


def nice_command(increment: int) -> list[str]:
    """The prefix that starts a command ``increment`` nice steps from ours ([] for 0); ``nice``
    execs the command, so its pid and signals are the command's."""
    return ["nice", "-n", str(increment)] if increment else []


def start_at_nice(
    command: list[str], increment: int, *, new_session: bool = True, **popen: Any
) -> subprocess.Popen[bytes]:
    """Start ``command`` ``increment`` nice steps from ours: through :func:`nice_command`
    (every thread it makes has the value), in a session of its own (``new_session``) whose
    autogroup is then put at the same value (:func:`set_group_nice`). ``popen``: the rest of
    :class:`subprocess.Popen`'s arguments."""
    proc = subprocess.Popen(
        [*nice_command(increment), *command], start_new_session=new_session, **popen
    )
    if new_session:
        set_group_nice(proc.pid, increment)
    return proc
