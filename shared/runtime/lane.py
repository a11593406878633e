"""A fast lane: one Redis connection spoken to directly, for a hot path's commands.

redis-py spends 70-120 µs of CPU on a command (connection checks, timeouts, retry
wrappers, stream readers); a command written straight to an asyncio transport and its
reply read by hiredis costs a third to a half of that (bench/scheduler_lateness.py).
A service whose hot path sends one command per event (the scheduler: one script call
per fire) spends that difference on every event.

The lane keeps the guarantees its callers had on a single-connection client: commands
reach Redis in call order (one at a time, under a lock, on the wire when the call
starts) and errors are redis-py's (a reply error raises what redis-py would raise). When
the lane cannot serve a command (no connection, a broken one, no reply in time), the
command goes through ``fallback`` instead, with that client's reconnects and retries:
what the caller sees is what it saw before, the parser's reply without redis-py's
response callbacks either way. Commands sent twice that way are the ones redis-py's own
retry would send twice: the callers' writes are idempotent scripts and acks, and a
consumer's read whose reply was lost leaves its entries pending, claimed again later
(:mod:`shared.runtime.consume`).
After a connect that failed, the lane leaves every command to the fallback for
:data:`CONNECT_RETRY_S` before it tries again.

Only plain TCP connections take the lane; TLS, Unix sockets and Sentinel URLs use
``fallback`` for every command.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any, Final, cast

import hiredis
from redis._parsers import BaseParser
from redis.asyncio import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.runtime.logging import get_logger
from shared.runtime.redis import Redis
from shared.runtime.send_timeout import redis_py_class

log = get_logger(__name__)

CONNECT_RETRY_S: Final = 1.0
"""After a failed connect the lane's commands go through the fallback (with its own
retries) for this long before the lane tries again: during an outage, or with Redis
unreachable (a connect that only ends at the timeout), a connect per command would
add its failure to every command's wait."""


def pack(args: tuple[Any, ...]) -> bytes:
    """``args`` as one RESP command (text as UTF-8, numbers as their decimal text)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        kind = type(arg)
        if kind is not bytes:
            if kind is str:
                arg = arg.encode()
            elif kind is int or kind is float:
                arg = repr(arg).encode()
            elif isinstance(arg, bytes | bytearray | memoryview):
                arg = bytes(arg)
            else:
                raise TypeError(f"a Redis argument must be bytes, text or a number, not {arg!r}")
        parts.append(b"$%d\r\n%b\r\n" % (len(arg), arg))
    return b"".join(parts)


class _Protocol(asyncio.Protocol):
    """Feeds what arrives to hiredis and hands each reply to the oldest waiter."""

    def __init__(self) -> None:
        self.reader = hiredis.Reader(
            protocolError=InvalidResponse, replyError=BaseParser.parse_error
        )
        self.waiters: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: no isinstance here.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.reader.feed(data)
            while (reply := self.reader.gets()) is not False:
                if self.waiters:
                    waiter = self.waiters.popleft()
                    if not waiter.done():
                        waiter.set_result(reply)
        except InvalidResponse as exc:
            self.fail(RedisConnectionError(f"Redis sent what is not RESP: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisConnectionError(f"connection to Redis lost: {exc or 'closed'}"))

    def fail(self, exc: Exception) -> None:
        if self.transport is not None:
            self.transport.abort()
            self.transport = None
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(exc)


class Lane:
    """Commands on one direct connection; ``fallback`` (a redis-py client) when it fails.

    Replies are the parser's, without redis-py's response callbacks, both ways. The lane
    speaks RESP2 and the fallback its pool's protocol (RESP3 with redis-py 8): a reply
    that RESP3 types differently (XREADGROUP's map of streams) is for the caller to
    read either way; script replies of numbers, text and lists are the same.
    """

    def __init__(self, fallback: Redis, *, name: str = "", timeout_s: float | None = None) -> None:
        self.fallback = fallback
        # The fallback answers as the lane does: the parser's reply, no response callback
        # (redis-py's XREADGROUP callback, for one, turns entries into dicts). The lane
        # owns its fallback (it closes it), so no other caller sees this.
        fallback.response_callbacks = {}
        self.name = name
        pool = fallback.connection_pool
        kwargs = pool.connection_kwargs
        self.enabled = redis_py_class(pool.connection_class) is Connection  # plain TCP
        self._host, self._port = kwargs.get("host", "localhost"), int(kwargs.get("port", 6379))
        self._auth = [a for a in (kwargs.get("username"), kwargs.get("password")) if a]
        self._db = int(kwargs.get("db") or 0)
        self._timeout_s = timeout_s or kwargs.get("socket_timeout") or 5.0
        self._protocol: _Protocol | None = None
        self._lock = asyncio.Lock()
        self._serving = True
        """False while commands go through the fallback (logged once when that starts)."""
        self._connect_after = 0.0
        """Monotonic time before which the lane does not try to connect again: a connect
        that failed (Redis down or unreachable) is not retried by every command."""

    async def execute_command(self, *args: Any) -> Any:
        """Run one command; its reply as redis-py's parser returns it (bytes, ints, lists)."""
        if not self.enabled:
            return await self.fallback.execute_command(*args)  # type: ignore[no-untyped-call]
        async with self._lock:
            if self._protocol is None and time.monotonic() < self._connect_after:
                return await self.fallback.execute_command(*args)  # type: ignore[no-untyped-call]
            try:
                reply = await self._send(args)
                if isinstance(reply, RedisConnectionError):
                    # An error reply redis-py counts as a connection error (LOADING while
                    # Redis loads its data: BusyLoadingError): its client would retry it.
                    raise reply
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                if self._serving:  # once per outage, not once per command
                    log.warning("redis.lane_fallback", lane=self.name, error=str(exc))
                self._serving = False
                self._drop()
                return await self.fallback.execute_command(*args)  # type: ignore[no-untyped-call]
            self._serving = True
        if isinstance(reply, RedisError):  # what redis-py's parser raises, raised
            raise reply
        return reply

    async def evalsha(self, sha: str, numkeys: int, *args: Any) -> Any:
        """EVALSHA, as redis-py's method of that name."""
        return await self.execute_command("EVALSHA", sha, numkeys, *args)

    async def script_load(self, source: str) -> Any:
        """SCRIPT LOAD (through the fallback: rare, and cached by the server)."""
        return await self.fallback.script_load(source)

    async def aclose(self) -> None:
        """Close the lane's connection and the fallback client."""
        self._drop()
        await self.fallback.aclose()

    async def _send(self, args: tuple[Any, ...]) -> Any:
        protocol = self._protocol or await self._connect()
        return await self._roundtrip(protocol, pack(args))

    async def _roundtrip(self, protocol: _Protocol, command: bytes) -> Any:
        transport = protocol.transport
        if transport is None:
            raise RedisConnectionError("the lane's connection is closed")
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] = loop.create_future()
        protocol.waiters.append(waiter)
        transport.write(command)
        late = loop.call_later(self._timeout_s, _expire, waiter, self._timeout_s)
        try:
            return await waiter
        except asyncio.CancelledError:
            self._drop()  # its reply would answer the next command
            raise
        finally:
            late.cancel()

    async def _connect(self) -> _Protocol:
        self._connect_after = time.monotonic() + CONNECT_RETRY_S  # unless it succeeds
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self._timeout_s):
            _, protocol = await loop.create_connection(_Protocol, self._host, self._port)
        for command in self._handshake():
            reply = await self._roundtrip(protocol, pack(command))
            if isinstance(reply, RedisError):  # the fallback will meet (and raise) it too
                error = RedisConnectionError(f"{command[0]} refused: {reply}")
                protocol.fail(error)
                raise error
        self._protocol = protocol
        self._connect_after = 0.0
        return protocol

    def _handshake(self) -> list[tuple[Any, ...]]:
        commands: list[tuple[Any, ...]] = []
        if self._auth:
            commands.append(("AUTH", *self._auth))
        if self._db:
            commands.append(("SELECT", self._db))
        if self.name:  # a client name takes no spaces
            commands.append(("CLIENT", "SETNAME", "-".join(self.name.split())))
        return commands

    def _drop(self) -> None:
        if self._protocol is not None:
            self._protocol.fail(RedisConnectionError("the lane's connection was dropped"))
            self._protocol = None


def _expire(waiter: asyncio.Future[Any], timeout_s: float) -> None:
    if not waiter.done():
        waiter.set_exception(RedisTimeoutError(f"no reply from Redis in {timeout_s} s"))
