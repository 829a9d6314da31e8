"""A worker process: one :class:`~voicebot.telephony.line.SipLine` answering calls.

Started by ``voicebot serve`` (several, behind Kamailio) or on its own::

    python -m voicebot.telephony.worker --sip-port 5070 --rtp-port 20000 \
        --handler voicebot.telephony.demo:handle_call

SIGTERM or SIGINT: new INVITEs get 503, calls in progress may end (``shutdown_grace_s``),
then the process exits 0. ``--ready-file`` is written once the line listens.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from voicebot.config import load_settings, section_to
from voicebot.errors import ConfigError, VoicebotError
from voicebot.orphan import stop_when_orphaned
from voicebot.telephony.callio import Handler
from voicebot.telephony.settings import SipSettings

log = logging.getLogger(__name__)


def load_prepare(spec: str) -> Callable[[], object] | None:
    """The ``prepare()`` of the handler's module, if it has one."""
    module = importlib.import_module(spec.partition(":")[0])
    prepare = getattr(module, "prepare", None)
    return prepare if callable(prepare) else None


def load_handler(spec: str) -> Handler:
    """Import ``module:function``; ConfigError when it is not there."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"sip handler {spec!r} must look like 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"sip handler module {module_name!r} not found",
            hint="set sip.handler, or run `voicebot serve --demo`",
        ) from exc
    handler = getattr(module, attr, None)
    if not callable(handler):
        raise ConfigError(f"sip handler {spec!r}: {attr!r} is not a function of {module_name}")
    return handler


async def serve_line(
    settings: SipSettings,
    handler: Handler,
    *,
    sip_address: str,
    sip_port: int,
    rtp_port: int,
    name: str,
    ready_file: Path | None = None,
) -> None:
    """Run one line until SIGTERM/SIGINT, then drain and return."""
    from voicebot.telephony.line import SipLine  # the only place pjsua2 gets imported

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    line = SipLine(
        settings, handler, sip_address=sip_address, sip_port=sip_port, rtp_port=rtp_port, name=name
    )
    line.start()
    if ready_file is not None:
        tmp = ready_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "port": sip_port, "name": name}))
        tmp.replace(ready_file)
    watch = asyncio.ensure_future(stop_when_orphaned(stop, name))
    await line.serve(stop)
    watch.cancel()
    log.info(
        "%s: stopped; answered %d, rejected %s, transfers %s",
        name,
        line.stats.answered,
        line.stats.rejected,
        line.stats.transfers,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="voicebot-worker", description=__doc__)
    parser.add_argument("--name", default="worker")
    parser.add_argument("--sip-address", help="SIP bind address (default: sip.address)")
    parser.add_argument("--sip-port", type=int, help="SIP port (default: sip.port)")
    parser.add_argument("--rtp-port", type=int, help="first RTP port (default: sip.rtp_base_port)")
    parser.add_argument("--handler", help="module:function (default: sip.handler)")
    parser.add_argument("--ready-file", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = section_to(SipSettings, load_settings(), "sip")
        spec = args.handler or settings.handler
        handler = load_handler(spec)
        prepare = load_prepare(spec)
        if prepare is not None:  # load models before the line takes calls
            log.info("%s: preparing the handler (%s)", args.name, spec)
            prepare()
        asyncio.run(
            serve_line(
                settings,
                handler,
                sip_address=args.sip_address or settings.address,
                sip_port=args.sip_port or settings.port,
                rtp_port=args.rtp_port or settings.rtp_base_port,
                name=args.name,
                ready_file=args.ready_file,
            )
        )
    except VoicebotError as exc:
        print(f"error[{exc.code}]: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
