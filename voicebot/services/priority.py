"""CPU priority of the host's services (``services.speech_nice`` / ``dialog_nice``).

A service runs at its nice value through ``nice -n N``, which sets it before the service's
Python starts, so every thread it makes later (decode and synthesis pools, CTranslate2's and
TensorFlow's own) has it too (on Linux the nice value is per thread, inherited at creation).
``N`` is relative to ``voicebot serve``'s own value, as ``sip.worker_nice`` is.

A negative value needs CAP_SYS_NICE (root) or a large enough ``RLIMIT_NICE``: when the host
does not permit it, :func:`permitted_nice` says so once and the services run at serve's own
value; the start never fails for it.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def nice_of(pid: int) -> int:
    """The nice value of process ``pid`` (field 19 of ``/proc/PID/stat``)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


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
