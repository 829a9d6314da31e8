"""``voicebot serve`` with route[ADMIT]'s race window widened (bench/admission_race.py and
the admission tests).

Run as ``python tests/sip/admission_widen.py US serve ARGS...`` with ``PYTHONPATH`` set to the
checkout to measure. It inserts ``usleep(US)`` into the generated Kamailio config between
reading a host's count (``get_profile_size``) and counting the call in it
(``set_dlg_profile``), then runs ``voicebot.cli`` as usual. With a working admission lock
another INVITE waits for the lock meanwhile; without one, two INVITEs read the same count
and both take the last place. This makes a rare interleaving (Kamailio's receiver process
preempted inside that window) frequent enough to count; it only changes timing.
"""

from __future__ import annotations

import sys


def main() -> int:
    micros = int(sys.argv[1])
    import voicebot.telephony.admission as admission
    import voicebot.telephony.kamailio as kamailio
    from voicebot.cli import main as cli_main

    original = admission.kamailio_routes

    def widened(settings: object) -> str:
        text = original(settings)  # type: ignore[arg-type]
        marker = '"$var(size)");\n'
        assert marker in text, "route[ADMIT] has no get_profile_size line to widen"
        return text.replace(marker, marker + f'        usleep("{micros}");\n', 1)

    admission.kamailio_routes = widened
    kamailio.kamailio_routes = widened  # imported by name there
    return cli_main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
