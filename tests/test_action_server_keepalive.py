"""The action server keeps idle connections longer than Rasa's client does (a real rasa-sdk
server started by :class:`ActionServer`).

Rasa's aiohttp client keeps a connection for reuse up to 15 s; Sanic's default closed it after
5 s, so an action called 5-15 s after the previous one could be written into a connection the
server was closing ("Cannot write to closing transport"; a campaign's first calls were handed
over for it). Here one HTTP/1.1 connection is reused after 7 s idle: with the 5 s default the
server has closed it and the second request fails.
"""

from __future__ import annotations

import http.client
import tempfile
import time
from urllib.parse import urlsplit

from conftest import free_port

from voicebot.dialog.action_server import KEEP_ALIVE_TIMEOUT_S, ActionServer


def test_an_idle_connection_is_kept_longer_than_the_client_keeps_it() -> None:
    assert KEEP_ALIVE_TIMEOUT_S > 15  # aiohttp's connector keeps idle connections 15 s
    endpoint = f"http://127.0.0.1:{free_port()}/webhook"
    server = ActionServer(
        endpoint, env={"VOICEBOT_VAR": tempfile.mkdtemp(prefix="voicebot-keepalive-")}
    )
    with server:
        parts = urlsplit(endpoint)
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        try:
            conn.request("GET", "/health")
            first = conn.getresponse()
            first.read()
            assert first.status == 200 and not first.will_close
            time.sleep(7)  # idle longer than Sanic's default keep-alive (5 s)
            conn.request("GET", "/health")  # the same socket: http.client does not reconnect
            second = conn.getresponse()
            assert second.status == 200, second.read()
        finally:
            conn.close()
