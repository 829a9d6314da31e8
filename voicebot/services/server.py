"""What every per-host service process shares: progress file, listening, dispatch, health.

A service loads its models first, writing each step to its status file (``var/run/NAME.json``:
``{"stage": "loading the Whisper model", "pid": ...}``) so ``voicebot serve`` can print
progress; then it listens and writes ``"stage": "ready"``. Each connection may carry many
requests, one after the other; every request is answered (errors included) so a client is
never left waiting on a live service.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from voicebot.errors import VoicebotError
from voicebot.orphan import stop_when_orphaned
from voicebot.services.protocol import (
    Address,
    ServiceError,
    error_reply,
    read_frame,
    start_server,
    write_frame,
)
from voicebot.services.stats import ServiceStats

log = logging.getLogger(__name__)

Reply = dict[str, Any]
Handler = Callable[[dict[str, Any]], Awaitable[Reply] | AsyncIterator[Reply]]


def write_status(path: Path | None, stage: str, **extra: Any) -> None:
    """Record the service's start-up stage (atomically) for ``voicebot serve``."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"stage": stage, "pid": os.getpid(), **extra}))
    tmp.replace(path)
    log.info("%s", stage)


class Service:
    """Base of the speech and dialog services: subclasses fill :attr:`ops`."""

    name = "service"

    def __init__(self) -> None:
        self.stats = ServiceStats(self.name)
        self.ops: dict[str, Callable[[dict[str, Any]], Any]] = {}

    def health(self) -> Reply:
        return self.stats.health()

    async def prepare(self) -> None:
        """Work before listening, on the service's own event loop (warming models)."""

    def after_ready(self) -> None:
        """Work started once the service listens (background warming)."""

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while (request := await read_frame(reader)) is not None:
                await self._answer(request, writer)
        except (ServiceError, ConnectionError) as exc:
            log.debug("connection dropped: %s", exc)
        finally:
            writer.close()

    async def _answer(self, request: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        op = str(request.get("op"))
        if op == "health":
            await write_frame(writer, self.health())
            return
        handler = self.ops.get(op)
        if handler is None:
            await write_frame(writer, error_reply(ServiceError(f"unknown operation {op!r}")))
            return
        try:
            result = handler(request)
            if hasattr(result, "__aiter__"):
                async for part in result:
                    await write_frame(writer, {"ok": True, "more": True, **part})
                await write_frame(writer, {"ok": True, "more": False})
            else:
                await write_frame(writer, {"ok": True, **(await result)})
        except VoicebotError as exc:
            await write_frame(writer, error_reply(exc))
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception as exc:  # noqa: BLE001 - answer every request, keep serving others
            log.exception("%s failed", op)
            await write_frame(writer, error_reply(exc))

    async def serve(self, address: Address, status: Path | None) -> None:
        """Listen until SIGTERM/SIGINT."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        watch = asyncio.ensure_future(stop_when_orphaned(stop, f"{type(self).__name__}"))
        await self.prepare()
        server = await start_server(address, self._serve_connection)
        write_status(status, "ready", address=str(address))
        self.after_ready()
        async with server:
            await stop.wait()
        watch.cancel()
        write_status(status, "stopped")


def service_main(
    name: str, build: Callable[[argparse.Namespace, Path | None], Service], argv: list[str] | None
) -> int:
    """Command line of a service process: ``--address``, ``--status``; exit 2 on errors."""
    from voicebot.config import load_settings
    from voicebot.services.settings import services_config

    parser = argparse.ArgumentParser(prog=f"voicebot-{name}")
    parser.add_argument("--address", help="unix:PATH or tcp:HOST:PORT (default: from settings)")
    parser.add_argument("--status", type=Path, help="start-up progress / ready file (JSON)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format=f"%(asctime)s %(levelname)s {name}[%(process)d] %(name)s: %(message)s",
    )
    try:
        cfg = services_config(load_settings())
        address = cfg.speech() if name == "speech" else cfg.dialog()
        if args.address:
            from voicebot.services.protocol import parse_address

            address = parse_address(args.address)
        service = build(args, args.status)
        asyncio.run(service.serve(address, args.status))
    except VoicebotError as exc:
        write_status(args.status, "failed", error=f"error[{exc.code}]: {exc}")
        print(f"error[{exc.code}]: {exc}", file=sys.stderr)
        return 2
    return 0
