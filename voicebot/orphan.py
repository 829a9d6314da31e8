"""A child process of ``voicebot serve`` stops when ``serve`` is gone.

``voicebot serve`` starts the speech and dialog services and the SIP workers as child
processes and stops them on SIGTERM. If ``serve`` itself dies without that (SIGKILL, an
out-of-memory kill), its children were re-parented to init and lived on, holding 1-2 GB of
models and their sockets and ports, until someone killed them by hand. Each child now watches
its parent and stops as on SIGTERM once the parent that started it has gone.

A process started directly by init or a service manager (parent pid 1 at start) has no
``serve`` to watch and is left alone.
"""

from __future__ import annotations

import asyncio
import logging
import os

log = logging.getLogger(__name__)

CHECK_EVERY_S = 1.0
"""How often (s) the parent is checked: a ``getppid`` call, about 1 µs."""


async def stop_when_orphaned(
    stop: asyncio.Event, what: str, every_s: float = CHECK_EVERY_S
) -> None:
    """Set ``stop`` once this process's parent has changed (the parent died); returns then,
    or never if the parent at start was init (nothing to watch)."""
    parent = os.getppid()
    if parent == 1:
        return
    while not stop.is_set():
        await asyncio.sleep(every_s)
        if os.getppid() != parent:
            log.warning("%s: its parent (pid %d) is gone; stopping", what, parent)
            stop.set()
            return
