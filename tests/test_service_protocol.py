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


class StandInDialog:
    """A dialog service's wire answers (no Rasa: the real one is in tests/multihost and
    tests/test_dialog_service.py); ``stored`` stands for the shared tracker store's events."""

    def __init__(self, name: str, shared: dict[str, int], dies_after_store: bool = False) -> None:
        self.name, self.shared, self.dies = name, shared, dies_after_store
        self.seen: list[dict[str, Any]] = []

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from voicebot.dialog.bridge import Conversation
        from voicebot.events import DialogReply
        from voicebot.services.dialog_wire import conversation_to_wire, reply_to_wire
        from voicebot.services.protocol import error_reply, write_frame

        while (request := await read_frame(reader)) is not None:
            self.seen.append(request)
            call = request["call_id"]
            if request.get("resend") and self.shared.get(call, 0) > request["events"]:
                await write_frame(writer, error_reply(DialogError("already taken")))
                continue
            self.shared[call] = self.shared.get(call, 0) + 2  # the user and the bot events
            if self.dies:
                writer.close()  # stored the turn, died before answering
                return
            reply = {"ok": True, "events": self.shared[call]}
            reply["reply"] = reply_to_wire(DialogReply(texts=(f"from {self.name}",)))
            reply["conv"] = conversation_to_wire(Conversation(call_id=call))
            await write_frame(writer, reply)
        writer.close()


def _listening(sock: Path) -> None:
    deadline = time.monotonic() + 5
    while not sock.exists() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_dialog_turns_go_to_a_peer_while_the_local_service_is_down_and_come_back(
    tmp_path: Path,
) -> None:
    local, peer = tmp_path / "local.sock", tmp_path / "peer.sock"
    shared: dict[str, int] = {}
    b = StandInDialog("b", shared)
    halt_b = serve_in_thread(peer, b)
    _listening(peer)
    dialog = RemoteDialog(
        parse_address(f"unix:{local}"),
        peers=[parse_address(f"unix:{peer}")],
        reconnect_s=2.0,
        timeout_s=5.0,
    )
    first = asyncio.run(dialog.handle("call-1", "billing"))  # local down: the peer answers
    assert first.texts == ("from b",) and len(b.seen) == 1 and not b.seen[0].get("resend")
    a = StandInDialog("a", shared)
    halt_a = serve_in_thread(local, a)  # the local service is back (restarted)
    _listening(local)
    again = asyncio.run(dialog.handle("call-1", "my postcode"))
    assert again.texts == ("from a",) and len(b.seen) == 1
    assert a.seen[0]["events"] == 2  # what the peer stored is what the worker saw
    halt_a()
    halt_b()


def test_a_turn_lost_in_flight_goes_to_the_peer_unless_it_was_already_taken(
    tmp_path: Path,
) -> None:
    """The local service dies during a turn: before storing it the peer answers it (one slow
    turn); after storing it the peer refuses it (the dialog error code: never answered twice)."""
    local, peer = tmp_path / "local.sock", tmp_path / "peer.sock"
    shared: dict[str, int] = {}
    b = StandInDialog("b", shared)
    halt_b = serve_in_thread(peer, b)

    async def dies_before_storing(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_frame(reader)
        writer.close()

    halt_a = serve_in_thread(local, dies_before_storing)
    _listening(local)
    _listening(peer)
    peers = [parse_address(f"unix:{peer}")]
    dialog = RemoteDialog(parse_address(f"unix:{local}"), peers=peers, reconnect_s=2.0)
    reply = asyncio.run(dialog.handle("call-2", "hello"))
    assert reply.texts == ("from b",) and b.seen[-1]["resend"] == "closed"
    halt_a()

    local.unlink()
    a = StandInDialog("a", shared, dies_after_store=True)
    halt_a = serve_in_thread(local, a)
    _listening(local)
    with pytest.raises(RemoteError, match="already taken") as refused:
        asyncio.run(dialog.handle("call-2", "my postcode"))
    assert refused.value.code == DialogError.code  # the call's failure path, as for the service
    assert b.seen[-1]["resend"] == "closed" and b.seen[-1]["events"] == 2
    halt_a()
    halt_b()


def test_status_lists_the_dialog_peers_and_counts_only_this_hosts_services(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from voicebot.commands import status

    peer = tmp_path / "peer.sock"
    halt = run_service(EchoService(), peer)  # answers health like any service
    _listening(peer)
    speech = tmp_path / "speech.sock"
    halt_speech = run_service(EchoService(), speech)
    _listening(speech)
    cfg = tmp_path / "settings.yml"
    cfg.write_text(
        f"services:\n  speech_address: unix:{speech}\n  dialog_address: unix:{tmp_path}/no.sock\n"
        f"  dialog_peers: [unix:{peer}, unix:{tmp_path}/gone.sock]\n"
    )
    monkeypatch.setenv("VOICEBOT_CONFIG", str(cfg))
    code = status.run(argparse.Namespace(json=False))
    out = capsys.readouterr().out
    halt()
    halt_speech()
    assert code == 1  # this host's dialog service is down
    assert f"peer unix:{peer} up" in out and f"peer unix:{tmp_path}/gone.sock DOWN" in out, out
