"""The fast lane: redis-py's replies and errors on a direct connection, and the
fallback client taking over whatever the lane cannot serve."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import uvloop
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from structlog.testing import capture_logs

from shared.contract.scripts import run, sha
from shared.runtime import lane as lane_module
from shared.runtime.embedded import EmbeddedRedis
from shared.runtime.lane import Lane, pack
from shared.runtime.redis import Redis, client

NESTED = "return {1, 'two', {KEYS[1], ARGV[1]}, false}"
SLEEP = """local t = redis.call('TIME'); local s = t[1] + t[2] / 1e6
repeat t = redis.call('TIME') until t[1] + t[2] / 1e6 > s + tonumber(ARGV[1]) return 1"""
"""Holds the server (every client waits) for ARGV[1] seconds."""


async def lane_id(lane: Lane) -> int:
    return int(await lane.execute_command("CLIENT", "ID"))


async def test_replies_and_errors_are_the_ones_redis_py_gives(r: Redis) -> None:
    lane = Lane(client(_url(r)), name="lane test")
    try:
        assert lane.enabled
        digest = await r.script_load(NESTED)
        ours = await lane.evalsha(digest, 1, "k", b"\xff\x00bytes")
        assert ours == await r.evalsha(digest, 1, "k", b"\xff\x00bytes")
        assert ours == [1, b"two", [b"k", b"\xff\x00bytes"], None]
        assert await lane.execute_command("SET", "lane:n", 2.5) == b"OK"
        assert await r.get("lane:n") == b"2.5"
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await lane.execute_command("LPUSH", "lane:n", "x")
        with pytest.raises(ResponseError, match="unknown command"):
            await lane.execute_command("NO-SUCH-COMMAND")
        # The errors above left the connection in step: the next reply is its own.
        assert await lane.execute_command("GET", "lane:n") == b"2.5"
        names = await r.client_list()
        assert any(c["name"] == "lane-test" for c in names)
    finally:
        await lane.aclose()
        await r.delete("lane:n")


async def test_a_script_redis_does_not_know_is_loaded_first(own_redis: Redis) -> None:
    lane = Lane(client(_url(own_redis)))
    try:
        await own_redis.script_flush()
        assert await own_redis.script_exists(sha("schedule_head")) == [False]
        await run(lane, "schedule_head", ["a", "b", "c"], ["1.0"])
        assert await own_redis.script_exists(sha("schedule_head")) == [True]
    finally:
        await lane.aclose()


async def test_a_killed_connection_is_replaced_and_no_command_is_lost(r: Redis) -> None:
    lane = Lane(client(_url(r)))
    try:
        first = await lane_id(lane)
        await r.execute_command("CLIENT", "KILL", "ID", first)
        # This command meets the dead connection: the fallback client answers it.
        assert await lane.execute_command("ECHO", "still here") == b"still here"
        second = await lane_id(lane)
        assert second != first
        assert await lane_id(lane) == second  # and the lane keeps its new connection
    finally:
        await lane.aclose()


async def test_no_reply_in_time_goes_through_the_fallback(r: Redis) -> None:
    lane = Lane(client(_url(r)), timeout_s=0.2)
    try:
        before = await lane_id(lane)
        busy = asyncio.ensure_future(r.eval(SLEEP, 0, "0.6"))
        await asyncio.sleep(0.05)
        # The server runs the script for 0.6 s: the lane gives up after 0.2 s, the
        # fallback waits it out and gets the reply.
        assert await lane.execute_command("ECHO", "late") == b"late"
        assert await busy == 1
        assert await lane_id(lane) != before
    finally:
        await lane.aclose()


async def test_a_cancelled_call_does_not_answer_the_next_one(r: Redis) -> None:
    lane = Lane(client(_url(r)))
    try:
        busy = asyncio.ensure_future(r.eval(SLEEP, 0, "0.3"))
        await asyncio.sleep(0.05)
        call = asyncio.ensure_future(lane.execute_command("ECHO", "first"))
        await asyncio.sleep(0.05)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert await lane.execute_command("ECHO", "second") == b"second"
        await busy
    finally:
        await lane.aclose()


async def test_a_password_and_a_database_are_used(tmp_path: Path) -> None:
    async with EmbeddedRedis(tmp_path / "acl", port=None, appendonly=False) as server:
        admin = client(server.url)
        await admin.execute_command("ACL", "SETUSER", "lane", "on", ">s3cret", "~*", "&*", "+@all")
        host_port = server.url.removeprefix("redis://")
        lane = Lane(client(f"redis://lane:s3cret@{host_port}/3"))
        try:
            await lane.execute_command("SET", "where", "db3")
            assert lane._protocol is not None  # served by the lane itself, not the fallback
            db3 = client(f"redis://{host_port}/3")
            assert await db3.get("where") == b"db3"
            assert await admin.get("where") is None
            await db3.aclose()
        finally:
            await lane.aclose()
            await admin.aclose()


def test_the_lane_serves_on_uvloop(redis_url: str) -> None:
    """The services run on uvloop, whose transports are not asyncio's classes."""

    async def names() -> list[str]:
        lane = Lane(client(redis_url), name="on-uvloop")
        watcher = client(redis_url)
        try:
            assert await lane.execute_command("ECHO", "x") == b"x"
            return [c["name"] for c in await watcher.client_list()]
        finally:
            await lane.aclose()
            await watcher.aclose()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert "on-uvloop" in runner.run(names())


async def test_falling_back_is_logged_once_per_outage(r: Redis) -> None:
    lane = Lane(client(_url(r)), name="logged")
    try:
        with capture_logs() as logs:
            for _ in range(3):
                await r.execute_command("CLIENT", "KILL", "ID", await lane_id(lane))
                await lane.execute_command("PING")  # falls back: its connection is gone
            assert await lane.execute_command("PING")
        fallbacks = [e for e in logs if e["event"] == "redis.lane_fallback"]
        assert len(fallbacks) == 3  # each kill is an outage of its own (served in between)
        assert fallbacks[0]["lane"] == "logged"
    finally:
        await lane.aclose()


async def test_the_fallback_gives_the_parsers_reply_as_the_lane_does(r: Redis) -> None:
    """redis-py's XREADGROUP callback turns entries into dicts; through the fallback the
    lane's caller still gets the parser's reply (in the pool's protocol: RESP3's map of
    streams with redis-py 8, RESP2's list on the lane)."""
    stream = f"lane-fallback-{id(r)}"
    await r.delete(stream)
    await r.xgroup_create(stream, "g", id="0", mkstream=True)
    for n in range(2):
        await r.xadd(stream, {"n": str(n)})
    lane = Lane(client(_url(r)))
    try:
        read = ("XREADGROUP", "GROUP", "g", "c", "COUNT", 1, "STREAMS", stream, ">")
        served = await lane.execute_command(*read)
        await r.execute_command("CLIENT", "KILL", "ID", await lane_id(lane))
        fallen_back = await lane.execute_command(*read)  # meets the dead connection
        assert served == [[stream.encode(), [[served[0][1][0][0], [b"n", b"0"]]]]]
        streams = fallen_back.items() if isinstance(fallen_back, dict) else fallen_back
        [(name, [[_, fields]])] = [tuple(s) for s in streams]
        assert (name, fields) == (stream.encode(), [b"n", b"1"])  # no dict made of it
    finally:
        await lane.aclose()
        await r.delete(stream)


LOADING_ONCE = """
if redis.call('INCR', KEYS[1]) == 1 then
  return redis.error_reply('LOADING Redis is loading the dataset in memory')
end
return 'loaded'
"""


async def test_a_loading_reply_goes_through_the_fallback_as_redis_py_retries_it(
    r: Redis,
) -> None:
    """Redis restarting answers LOADING until its data is in memory; redis-py raises
    BusyLoadingError (a connection error its client retries). The lane raises it too and
    the fallback retries: the caller gets the answer once loading is over, never the
    error as a reply."""
    key = f"lane-loading-{id(r)}"
    await r.delete(key)
    lane = Lane(client(_url(r)))
    try:
        assert await lane.execute_command("EVAL", LOADING_ONCE, 1, key) == b"loaded"
        assert await r.get(key) == b"2"  # refused once on the lane, then answered
        with pytest.raises(ResponseError):  # a plain error reply is still raised
            await lane.execute_command("EVAL", "return redis.error_reply('ERR no')", 0)
    finally:
        await lane.aclose()
        await r.delete(key)


class CountingLane(Lane):
    """Counts the lane's connect attempts."""

    connects = 0

    async def _connect(self) -> object:  # type: ignore[override]
        self.connects += 1
        return await super()._connect()


async def test_a_failed_connect_is_not_retried_by_every_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Redis down, the commands go through the fallback without a connect each;
    once the cool-off is over and Redis is back, the lane serves again."""
    monkeypatch.setattr(lane_module, "CONNECT_RETRY_S", 0.3)
    server = EmbeddedRedis(tmp_path / "r", port=None, appendonly=False)
    server.start()
    lane = CountingLane(client_without_retries(server.url))
    try:
        assert await lane.execute_command("PING")
        assert lane.connects == 1
        server.stop()
        for _ in range(5):
            with pytest.raises(RedisConnectionError):  # the fallback's own error
                await lane.execute_command("PING")
        assert lane.connects == 2  # the dead connection's replacement, tried once
        server.start()
        assert await lane.execute_command("PING")  # the fallback, during the cool-off
        assert lane.connects == 2 and lane._protocol is None
        await asyncio.sleep(0.35)
        assert await lane.execute_command("ECHO", "back") == b"back"
        assert lane.connects == 3 and lane._protocol is not None  # the lane again
    finally:
        await lane.aclose()
        server.stop()


def client_without_retries(url: str) -> Redis:
    return Redis.from_url(url, retry=Retry(NoBackoff(), 0))


def test_tls_connections_use_the_fallback_only() -> None:
    assert not Lane(client("rediss://127.0.0.1:1")).enabled


def test_arguments_are_packed_as_resp_bulk_strings() -> None:
    assert pack(("SET", b"k", 3)) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n3\r\n"
    with pytest.raises(TypeError, match="bytes, text or a number"):
        pack(("SET", None))


def _url(r: Redis) -> str:
    kwargs = r.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs.get('db') or 0}"
