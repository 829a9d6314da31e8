"""The wire between call workers and the per-host services, over real Unix sockets.

A small service defined here (echo, fail, count) stands in for the speech and dialog
services, whose models are exercised in tests/test_dialog_service.py and tests/sip; what is
tested is the framing, errors, streaming, and the clients' reconnect rules.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from voicebot.errors import AudioError, DialogError
from voicebot.services.client import ServiceClient
from voicebot.services.dialog_client import RemoteDialog
from voicebot.services.protocol import (
    RemoteError,
    ServiceUnavailable,
    parse_address,
    read_frame,
    start_server,
)
from voicebot.services.server import Service


class EchoService(Service):
    name = "echo"

    def __init__(self) -> None:
        super().__init__()
        self.ops = {"echo": self.echo, "fail": self.fail, "count": self.count}

    async def echo(self, request: dict[str, Any]) -> dict[str, Any]:
        audio = np.frombuffer(request["audio"], dtype="<i2")
        return {"sum": int(audio.astype(np.int64).sum()), "audio": request["audio"]}

    async def fail(self, request: dict[str, Any]) -> dict[str, Any]:
        raise AudioError("broken audio")

    async def count(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        for i in range(int(request.get("skip") or 0), int(request["n"])):
            await asyncio.sleep(0.01)
            yield {"i": i}


def serve_in_thread(sock: Path, handler: Any) -> Callable[[], None]:
    """Serve ``handler`` on ``sock`` from a thread; returns the function that stops it."""
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        async with await start_server(parse_address(f"unix:{sock}"), handler):
            await stop.wait()

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    thread.start()

    def halt() -> None:
        loop.call_soon_threadsafe(stop.set)
        thread.join(5)

    return halt


def run_service(service: Service, sock: Path) -> Callable[[], None]:
    return serve_in_thread(sock, service._serve_connection)


@pytest.fixture
def echo(tmp_path: Path) -> Iterator[ServiceClient]:
    sock = tmp_path / "echo.sock"
    halt = run_service(EchoService(), sock)
    deadline = time.monotonic() + 5
    while not sock.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    client = ServiceClient(parse_address(f"unix:{sock}"), reconnect_s=2.0, timeout_s=5.0)
    yield client
    client.close()
    halt()


def test_audio_round_trip_and_health(echo: ServiceClient) -> None:
    pcm = (np.arange(16000) % 200 - 100).astype(np.int16)
    reply = echo.request({"op": "echo", "audio": pcm.astype("<i2").tobytes()}, "echo")
    assert reply["sum"] == int(pcm.astype(np.int64).sum())
    assert np.array_equal(np.frombuffer(reply["audio"], "<i2"), pcm)
    health = echo.health()
    assert health["ok"] and health["service"] == "echo" and health["rss_mb"] > 0


def test_a_service_error_keeps_its_code_and_is_not_retried(echo: ServiceClient) -> None:
    started = time.monotonic()
    with pytest.raises(RemoteError) as err:
        echo.request({"op": "fail"}, "fail")
    assert err.value.code == "audio-invalid" and "broken audio" in str(err.value)
    assert time.monotonic() - started < 1.0
    with pytest.raises(RemoteError, match="unknown operation"):
        echo.request({"op": "nope"}, "nope")


def test_streamed_reply_and_an_abandoned_stream(echo: ServiceClient) -> None:
    assert [p["i"] for p in echo.stream({"op": "count", "n": 5}, "count")] == [0, 1, 2, 3, 4]
    parts = echo.stream({"op": "count", "n": 100}, "count")
    assert next(parts)["i"] == 0
    parts.close()  # barge-in: the connection is dropped, the next request gets a new one
    assert [p["i"] for p in echo.stream({"op": "count", "n": 2}, "count")] == [0, 1]


def test_client_waits_for_a_service_that_is_starting(tmp_path: Path) -> None:
    sock = tmp_path / "late.sock"
    client = ServiceClient(parse_address(f"unix:{sock}"), reconnect_s=10.0)
    halts: list[Callable[[], None]] = []
    timer = threading.Timer(1.0, lambda: halts.append(run_service(EchoService(), sock)))
    timer.start()
    reply = client.request({"op": "echo", "audio": b"\x01\x00"}, "echo")
    assert reply["sum"] == 1
    client.close()
    timer.join()
    halts[0]()


def test_client_gives_up_after_reconnect_s(tmp_path: Path) -> None:
    client = ServiceClient(parse_address(f"unix:{tmp_path}/none.sock"), reconnect_s=0.5)
    with pytest.raises(ServiceUnavailable):
        client.request({"op": "echo", "audio": b""}, "echo")


def test_a_dialog_turn_lost_in_flight_fails_the_call_not_the_worker(tmp_path: Path) -> None:
    """A dialog service that dies while answering: DialogError for that turn (sending it
    again could take the turn twice); the next request, once it is back, works."""
    sock = tmp_path / "dialog.sock"
    seen: list[dict[str, Any]] = []

    async def dies(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_frame(reader) or {})
        writer.close()  # dies before answering

    halt = serve_in_thread(sock, dies)
    while not sock.exists():
        time.sleep(0.01)
    dialog = RemoteDialog(parse_address(f"unix:{sock}"), reconnect_s=2.0, timeout_s=5.0)
    with pytest.raises(DialogError, match="closed during the request"):
        asyncio.run(dialog.handle("call-1", "hello"))
    assert seen and seen[0]["op"] == "handle" and seen[0]["conv"]["call_id"] == "call-1"
    halt()
