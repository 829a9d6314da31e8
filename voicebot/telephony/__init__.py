"""The phone line: SIP calls in, frames and digits to the pipeline, transfers out.

The only package that imports pjsua2, and only in :mod:`.line`, :mod:`.media` (a worker
process) — importing this package itself stays pjsua2-free::

    callio.py      CallIO: one call as the pipeline sees it (pure asyncio)
    settings.py    SipSettings: the ``sip`` settings section
    sipmsg.py      readers of raw SIP text (headers, From, INFO DTMF, SDP codecs)
    access.py      Gatekeeper: allowed networks and digest authentication
    media.py       FramePort: pjsua2 conference bridge <-> CallIO frames
    line.py        SipLine: one pjsua2 Endpoint on an asyncio loop, answering calls
    worker.py      a worker process running one SipLine
    kamailio.py    Kamailio dispatcher config and process in front of the workers
    supervisor.py  ``voicebot serve``: workers + Kamailio, clean shutdown on SIGTERM
    demo.py        a demo handler (prompt, recording, digits, transfer on 9)
"""

from voicebot.telephony.callio import (
    FRAME_BYTES,
    FRAME_MS,
    SAMPLE_RATE,
    CallDetails,
    CallIO,
    Dtmf,
    Handler,
    PlayResult,
    TransferResult,
)

__all__ = [
    "FRAME_BYTES",
    "FRAME_MS",
    "SAMPLE_RATE",
    "CallDetails",
    "CallIO",
    "Dtmf",
    "Handler",
    "PlayResult",
    "TransferResult",
]
