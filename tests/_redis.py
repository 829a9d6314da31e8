"""A real redis-server for tests (Debian's, via voicebot's own starter), on a free port.

Used by the agent board tests that run on both backends. A missing redis-server skips
(which fails the run under CI=true, see tests/_no_skips.py).
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from voicebot.center.redis_server import RedisServer, RedisSettings


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_server(folder: Path) -> Iterator[str]:
    """Start redis-server in ``folder``; yields its URL, stops it afterwards."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server (Debian package redis-server) not installed")
    settings = RedisSettings(serve=True, port=free_tcp_port(), max_memory_mb=64)
    with RedisServer(settings, folder) as server:
        yield server.settings.url
