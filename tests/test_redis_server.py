"""Debian's redis-server started and stopped by voicebot (voicebot/center/redis_server.py),
alone and by ``voicebot serve``, checked with the real redis-py client Rasa's stores use."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from voicebot.center.redis_server import RedisServer, RedisSettings, ping, server_for_url
from voicebot.errors import ConfigError, StoreError

ROOT = Path(__file__).resolve().parents[1]
REDIS = Path("/usr/bin/redis-server")


def need_redis() -> None:
    if not REDIS.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server (Debian package) not installed: scripts/bootstrap.sh dev")
        pytest.skip("redis-server not installed")


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Nothing listens on ``port`` (connections in TIME_WAIT do not count)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_start_store_and_stop_with_a_password(tmp_path: Path) -> None:
    need_redis()
    s = RedisSettings(port=free_tcp_port(), password="s3cret-pw", max_memory_mb=32)
    with RedisServer(s, tmp_path) as server:
        assert server.proc is not None and server.proc.poll() is None
        client = redis.Redis.from_url(s.url)
        client.set("conversation:1", "hello")
        assert client.get("conversation:1") == b"hello"
        assert client.config_get("maxmemory")["maxmemory"] == str(32 * 1024 * 1024)
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis(port=s.port, password="wrong").ping()
        assert not ping("127.0.0.1", s.port)  # no password: NOAUTH, not PONG
        with pytest.raises(StoreError, match="already answers"):
            RedisServer(s, tmp_path / "second").start()
    assert server.proc.poll() is not None
    assert port_is_free(s.port)
    assert not list(tmp_path.glob("*.rdb")) and not list(tmp_path.glob("appendonly*"))
    assert "requirepass" in (tmp_path / "redis.conf").read_text()
    assert (tmp_path / "redis.conf").stat().st_mode & 0o077 == 0


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    need_redis()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(StoreError, match="exited at start") as err:
            RedisServer(RedisSettings(port=port, start_s=5), tmp_path).start()
    assert err.value.code == "store-failed"


def test_missing_binary_and_bad_settings(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="redis-server not found"):
        RedisServer(RedisSettings(binary=str(tmp_path / "nope")), tmp_path).start()
    with pytest.raises(ConfigError, match="address must be an IP"):
        RedisSettings(address="redis.local")
    with pytest.raises(ConfigError, match="password may not hold"):
        RedisSettings(password="a b")
    assert RedisSettings(port=6380).url == "redis://127.0.0.1:6380/0"


def test_voicebot_serve_starts_and_stops_redis(tmp_path: Path) -> None:
    need_redis()
    if not Path("/usr/sbin/kamailio").exists():
        if os.environ.get("CI") == "true":
            pytest.fail("kamailio (Debian package) not installed")
        pytest.skip("kamailio not installed")
    rport, sip_port = free_tcp_port(), free_tcp_port()
    cfg = tmp_path / "settings.yml"
    cfg.write_text(
        f"redis:\n  serve: true\n  port: {rport}\n"
        f"sip:\n  rtp_ports: 20\n  port: {sip_port}\n  worker_base_port: {free_tcp_port()}\n"
        f"  rtp_base_port: {free_tcp_port()}\n  workers: 1\n  shutdown_grace_s: 2\n"
    )
    env = {**os.environ, "VOICEBOT_CONFIG": str(cfg), "VOICEBOT_VAR": str(tmp_path / "var")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicebot.cli", "serve", "--demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        seen = ""
        while "answering SIP" not in seen and proc.poll() is None and seen.count("\n") < 50:
            seen += proc.stdout.readline()
        assert f"Redis on 127.0.0.1:{rport}" in seen and "answering SIP" in seen, seen
        assert ping("127.0.0.1", rport)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(40) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    end = time.monotonic() + 5
    while ping("127.0.0.1", rport) and time.monotonic() < end:
        time.sleep(0.1)
    assert not ping("127.0.0.1", rport)


def test_a_tracker_store_url_on_this_host_gets_one_started_once(tmp_path: Path) -> None:
    """``dialog.tracker_store: redis://...`` on this host: voicebot serve's services start
    the same RedisServer (password from the URL) unless one answers there already."""
    need_redis()
    url = f"redis://:url-pw@127.0.0.1:{free_tcp_port()}/0"
    server = server_for_url(url, RedisSettings(), tmp_path)
    assert server is not None
    try:
        assert redis.Redis.from_url(url).ping()
        assert server_for_url(url, RedisSettings(), tmp_path / "again") is None  # answers
    finally:
        server.stop()
    with pytest.raises(StoreError, match="no Redis server answers at 192.0.2.1"):
        server_for_url("redis://192.0.2.1:6379/0", RedisSettings(), tmp_path)
