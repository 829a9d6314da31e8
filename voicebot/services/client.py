"""Blocking client side of a service: a small connection pool with reconnect and retry.

Requests to the speech service are idempotent (the whole utterance travels with each
decode), so a request that meets a dead or restarting service is sent again on a new
connection until ``reconnect_s`` has passed; then :class:`ServiceError` goes to the call,
whose session takes its failure path. Other workers' calls are not affected.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from voicebot.services.protocol import (
    Address,
    Connection,
    RemoteError,
    ServiceError,
    ServiceUnavailable,
    raise_for,
)

log = logging.getLogger(__name__)

RETRY_PAUSE_S = 0.2
"""Pause between two connection attempts to a service that is down, s."""


class ServiceClient:
    """Requests to one service from any thread (one connection per request in flight)."""

    def __init__(
        self, address: Address, *, reconnect_s: float = 60.0, timeout_s: float = 30.0
    ) -> None:
        self.address = address
        self.reconnect_s = reconnect_s
        self.timeout_s = timeout_s
        self._idle: list[Connection] = []
        self._lock = threading.Lock()

    def _get(self) -> Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return Connection(self.address, self.timeout_s)

    def _put(self, conn: Connection) -> None:
        with self._lock:
            self._idle.append(conn)

    def request(self, message: dict[str, Any], what: str) -> dict[str, Any]:
        """One request, one reply; retried on a lost or refused connection."""
        deadline = time.monotonic() + self.reconnect_s
        while True:
            conn: Connection | None = None
            try:
                conn = self._get()
                conn.send(message)
                reply = conn.receive()
            except ServiceError as exc:
                if conn is not None:
                    conn.close()
                if time.monotonic() > deadline:
                    raise ServiceUnavailable(
                        f"{what}: the service at {self.address} did not answer within "
                        f"{self.reconnect_s:.0f} s ({exc})"
                    ) from exc
                log.warning("%s: %s; retrying", what, exc)
                time.sleep(RETRY_PAUSE_S)
                continue
            self._put(conn)
            return raise_for(reply, what)

    def stream(self, message: dict[str, Any], what: str) -> Iterator[dict[str, Any]]:
        """A streamed reply, part by part; on a lost connection the request is sent again
        with ``skip`` = parts already received. Closing the iterator early drops the
        connection (the service stops working on it)."""
        deadline = time.monotonic() + self.reconnect_s
        received = 0
        while True:
            conn: Connection | None = None
            finished = False
            try:
                conn = self._get()
                conn.send({**message, "skip": received})
                while True:
                    part = raise_for(conn.receive(), what)
                    if not part.get("more"):
                        finished = True
                        break
                    received += 1
                    yield part
            except RemoteError:
                raise
            except ServiceError as exc:
                if conn is not None:
                    conn.close()
                    conn = None
                if time.monotonic() > deadline:
                    raise ServiceUnavailable(
                        f"{what}: the service at {self.address} did not answer within "
                        f"{self.reconnect_s:.0f} s ({exc})"
                    ) from exc
                log.warning("%s: %s; retrying", what, exc)
                time.sleep(RETRY_PAUSE_S)
                continue
            finally:
                if conn is not None:
                    if finished:
                        self._put(conn)
                    else:  # abandoned mid-stream (barge-in): drop it
                        conn.close()
            return

    def close(self) -> None:
        """Close the idle connections (requests still open new ones)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def health(self, timeout_s: float = 2.0) -> dict[str, Any]:
        """The service's health answer (no retry; ServiceError when it does not answer)."""
        conn = Connection(self.address, timeout_s)
        try:
            conn.send({"op": "health"})
            return conn.receive()
        finally:
            conn.close()


def wait_healthy(address: Address, timeout_s: float, what: str) -> dict[str, Any]:
    """The health answer of the service at ``address`` once it answers (it listens only
    when its models are loaded), asking every 0.5 s; ServiceUnavailable after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    client = ServiceClient(address)
    while True:
        try:
            reply = client.health(timeout_s=5.0)
            if reply.get("ok"):
                return reply
            error = str(reply.get("error"))
        except ServiceError as exc:
            error = str(exc)
        if time.monotonic() > deadline:
            raise ServiceUnavailable(
                f"{what}: the service at {address} did not answer within {timeout_s:.0f} s "
                f"({error})"
            )
        time.sleep(0.5)
