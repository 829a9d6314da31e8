"""The wire between call workers and the per-host services: framed msgpack messages.

A frame is a 4-byte big-endian length followed by one msgpack map. A request carries
``op`` (what to do) and its arguments; audio travels as raw little-endian int16 bytes in a
``bin`` field, never as lists of numbers. A reply is one map with ``ok: true`` and the
results, or ``ok: false`` with ``code`` and ``error`` (a :class:`VoicebotError` on the
service side is sent back with its code and raised again in the client). A streamed reply
(synthesized sentences) is several frames with ``more: true`` and a last one without.

Addresses are ``unix:/path/to.sock`` (one host; a relative path is under ``var/``) or
``tcp:HOST:PORT`` (another host; bind it to a private address only).

The async helpers serve the services (asyncio); the blocking :class:`Connection` is what
the call workers' executor threads use (ASR and TTS are already pulled in executors by the
session); :class:`AsyncConnection` is for the dialog client on the worker's event loop.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from voicebot.errors import ConfigError, VoicebotError

MAX_FRAME = 64 * 1024 * 1024
"""Largest frame accepted, bytes (20 s of 8 kHz audio is 320 kB)."""
_HEADER = struct.Struct(">I")


class ServiceError(VoicebotError):
    """A per-host service (speech, dialog) could not be reached or failed a request."""

    code = "service-failed"


class RemoteError(ServiceError):
    """The service answered a request with an error (its code is kept): not retried."""


class ServiceUnavailable(ServiceError):
    """The service did not accept a connection (down, restarting, or never started)."""

    code = "service-unavailable"


@dataclass(frozen=True)
class Address:
    """Where a service listens: a Unix socket path, or a TCP host and port."""

    kind: str
    path: str = ""
    host: str = ""
    port: int = 0

    def __str__(self) -> str:
        return f"unix:{self.path}" if self.kind == "unix" else f"tcp:{self.host}:{self.port}"


def parse_address(text: str, base: Path | None = None) -> Address:
    """``unix:PATH`` (relative to ``base``) or ``tcp:HOST:PORT``; ConfigError otherwise."""
    kind, _, rest = text.partition(":")
    if kind == "unix" and rest:
        path = Path(rest)
        if not path.is_absolute() and base is not None:
            path = base / path
        return Address("unix", path=str(path))
    if kind == "tcp":
        host, _, port = rest.rpartition(":")
        if host and port.isdigit():
            return Address("tcp", host=host.strip("[]"), port=int(port))
    raise ConfigError(
        f"service address {text!r} must look like 'unix:run/speech.sock' or 'tcp:10.0.0.2:7011'"
    )


def pack(message: dict[str, Any]) -> bytes:
    body: bytes = msgpack.packb(message, use_bin_type=True)
    return _HEADER.pack(len(body)) + body


def unpack(body: bytes) -> dict[str, Any]:
    message = msgpack.unpackb(body, raw=False)
    if not isinstance(message, dict):
        raise ServiceError("malformed frame: not a map")
    return message


def error_reply(exc: BaseException) -> dict[str, Any]:
    code = exc.code if isinstance(exc, VoicebotError) else "service-failed"
    return {"ok": False, "code": code, "error": str(exc) or type(exc).__name__}


def raise_for(reply: dict[str, Any], what: str) -> dict[str, Any]:
    """The reply, or a :class:`ServiceError` carrying the service's error code."""
    if reply.get("ok"):
        return reply
    err = RemoteError(f"{what}: {reply.get('error', 'failed')}")
    err.code = str(reply.get("code") or ServiceError.code)
    raise err


# ----------------------------------------------------------------------------- async side


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next message, or None at a clean end of stream."""
    try:
        head = await reader.readexactly(_HEADER.size)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise ServiceError("connection closed inside a frame header") from exc
        return None
    (size,) = _HEADER.unpack(head)
    if size > MAX_FRAME:
        raise ServiceError(f"frame of {size} bytes is too large")
    try:
        body = await reader.readexactly(size)
    except asyncio.IncompleteReadError as exc:
        raise ServiceError("connection closed inside a frame") from exc
    return unpack(body)


async def write_frame(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    writer.write(pack(message))
    await writer.drain()


async def open_async(
    address: Address, timeout_s: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect (ServiceUnavailable when nobody listens)."""
    try:
        if address.kind == "unix":
            conn = asyncio.open_unix_connection(address.path, limit=MAX_FRAME)
        else:
            conn = asyncio.open_connection(address.host, address.port, limit=MAX_FRAME)
        return await asyncio.wait_for(conn, timeout_s)
    except (TimeoutError, OSError) as exc:
        raise ServiceUnavailable(f"no service at {address}: {exc}") from exc


async def start_server(address: Address, handle: Any) -> asyncio.AbstractServer:
    """An asyncio server at ``address`` calling ``handle(reader, writer)`` per connection."""
    if address.kind == "unix":
        path = Path(address.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        return await asyncio.start_unix_server(handle, address.path, limit=MAX_FRAME)
    return await asyncio.start_server(handle, address.host, address.port, limit=MAX_FRAME)


# ----------------------------------------------------------------------------- blocking side


class Connection:
    """One blocking connection to a service (used by one thread at a time)."""

    def __init__(self, address: Address, timeout_s: float) -> None:
        family = socket.AF_UNIX if address.kind == "unix" else socket.AF_INET
        target: Any = address.path if address.kind == "unix" else (address.host, address.port)
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(timeout_s)
        try:
            sock.connect(target)
        except OSError as exc:
            sock.close()
            raise ServiceUnavailable(f"no service at {address}: {exc}") from exc
        self.sock = sock
        self.address = address

    def send(self, message: dict[str, Any]) -> None:
        try:
            self.sock.sendall(pack(message))
        except OSError as exc:
            raise ServiceError(f"lost the service at {self.address}: {exc}") from exc

    def receive(self) -> dict[str, Any]:
        head = self._exactly(_HEADER.size)
        (size,) = _HEADER.unpack(head)
        if size > MAX_FRAME:
            raise ServiceError(f"frame of {size} bytes is too large")
        return unpack(self._exactly(size))

    def _exactly(self, n: int) -> bytes:
        parts: list[bytes] = []
        while n:
            try:
                chunk = self.sock.recv(min(n, 1 << 20))
            except OSError as exc:  # socket.timeout included
                raise ServiceError(f"lost the service at {self.address}: {exc}") from exc
            if not chunk:
                raise ServiceError(f"the service at {self.address} closed the connection")
            parts.append(chunk)
            n -= len(chunk)
        return b"".join(parts)

    def close(self) -> None:
        self.sock.close()
