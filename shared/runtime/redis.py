"""Redis connection and consumer-group helpers shared by every service.

Timeouts are deliberate: redis-py's asyncio client would otherwise give up on a
blocking read after its default socket timeout, so every ``BLOCK`` here stays well
below :data:`SOCKET_TIMEOUT_S`.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import EqualJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.contract.keys import Keys
from shared.contract.scripts import script
from shared.runtime.logging import get_logger, redact_text
from shared.runtime.send_timeout import cancel_safe
from shared.runtime.sentinel import is_sentinel_url, sentinel_client
from shared.timing.backoff import backoff_s

SOCKET_TIMEOUT_S: Final = 30.0
"""Socket timeout for every connection; blocking reads must be shorter."""
BLOCK_MS: Final = 2_000
"""Default XREADGROUP block: long enough to idle cheaply, far below the socket timeout."""
DEAD_MAXLEN: Final = 100_000
RETRY_FIRST_S: Final = 0.05
"""First wait before retrying an unreachable Redis (doubling, with jitter)."""
RETRY_CAP_S: Final = 1.0
"""Longest wait between tries while Redis is unreachable: every service is back within
about a second of Redis answering again."""
CONNECT_TIMEOUT_S: Final = 2.0
"""Bound of one TCP connect: an unreachable (not refusing) host costs no more per try."""

Redis = aioredis.Redis
RedisUnavailable = (RedisConnectionError, RedisTimeoutError, OSError)
"""Exceptions that mean "Redis is not reachable right now" (retry, or 503 in the API)."""

log = get_logger("watchkeeper.redis")
T = TypeVar("T")


def text(value: bytes | str) -> str:
    """Redis replies are bytes (decode_responses is off); this gives text either way."""
    return value.decode() if isinstance(value, bytes) else value


def client(url: str, *, socket_timeout: float = SOCKET_TIMEOUT_S) -> Redis:
    """A pooled client for ``url``; a command that meets a broken connection reconnects
    up to three times with jittered backoff (at most :data:`RETRY_CAP_S`) before
    the error reaches the caller's own retry loop.

    A retried command may run twice: Redis can apply it and die before the reply. The
    services' writes are fenced scripts, guarded by markers or by the entry still being
    pending, or transactions that re-read first; a write that is none of these (a plain
    ``XADD`` of a trigger) goes through :func:`xadd_once` instead.

    ``redis+sentinel://`` URLs go through Redis Sentinel (:mod:`shared.runtime.sentinel`):
    the client talks to whichever server the sentinels name master, also after a failover.
    """
    options: dict[str, Any] = {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "health_check_interval": 15,
        "retry": Retry(EqualJitterBackoff(cap=RETRY_CAP_S, base=RETRY_FIRST_S), retries=3),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
        "decode_responses": False,
    }
    if is_sentinel_url(url):
        r = sentinel_client(url, **options)
    else:
        r = aioredis.Redis.from_url(url, **options)
    cancel_safe(r.connection_pool)  # a cancelled command must end its task (Python 3.11)
    return r


async def connect(
    url: str, *, wait_s: float = 30.0, socket_timeout: float = SOCKET_TIMEOUT_S
) -> Redis:
    """Connect and PING, retrying with capped, jittered backoff for up to ``wait_s`` seconds."""
    r = client(url, socket_timeout=socket_timeout)
    failures, loop = 0, asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        try:
            await r.ping()
            return r
        except RedisUnavailable as exc:
            wait = backoff_s(failures, first_s=RETRY_FIRST_S, cap_s=RETRY_CAP_S,
                             rand=random.random())  # fmt: skip
            if loop.time() + wait > deadline:
                await r.aclose()
                raise ConnectionError(
                    f"cannot reach Redis at {redact_text(url)} after {wait_s:.0f} s: {exc}"
                ) from exc
            log.warning("redis.unreachable", url=url, retry_in_s=round(wait, 3))
            await asyncio.sleep(wait)
            failures += 1


class MaybeWritten(RedisConnectionError):
    """Redis went away after a write was sent and before its reply: it may have been
    applied or not (the caller should look before sending it again)."""


async def xadd_once(r: Redis, stream: str, fields: Mapping[str, Any]) -> str:
    """``XADD stream * fields`` sent once, never retried by the client (a retry after a
    lost reply would add the entry twice: one request, two runs); the new entry id.

    Raises :class:`MaybeWritten` when the connection failed after the command was
    sent, and the usual connection error when it failed before (nothing written)."""
    pool = r.connection_pool
    conn = await pool.get_connection()  # type: ignore[no-untyped-call]
    sent = False
    try:
        await conn.connect()  # not connected yet: a failure here wrote nothing
        sent = True  # from here a failure may come after Redis read the whole command
        await conn.send_command("XADD", stream, "*", *[p for kv in fields.items() for p in kv])
        return text(await conn.read_response())
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        await conn.disconnect()
        if sent:
            raise MaybeWritten(f"Redis went away after the entry was sent to {stream}: it may "
                               f"or may not have been written ({exc})") from exc  # fmt: skip
        raise
    finally:
        await pool.release(conn)


async def ensure_group(r: Redis, stream: str, group: str, start_id: str = "0") -> None:
    """Create ``group`` on ``stream`` (and the stream itself) unless it exists."""
    try:
        await r.xgroup_create(stream, group, id=start_id, mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def is_nogroup(exc: BaseException) -> bool:
    """Whether ``exc`` says the consumer group (or its stream) is gone: NOGROUP, or the
    UNBLOCKED a blocked XREADGROUP gets when its stream is deleted (or Redis flushed)."""
    return isinstance(exc, ResponseError) and str(exc).startswith(("NOGROUP", "UNBLOCKED"))


async def regrouping(
    r: Redis, streams: Sequence[str], group: str, call: Callable[[], Awaitable[T]]
) -> T:
    """Run ``call``; if Redis lost the group (emptied, flushed, stream key evicted), recreate
    it on every stream and run ``call`` once more.

    Recreation starts from id 0, not ``$``: entries written between the data loss and
    now were never read, and skipping them would silently drop triggers and results.
    """
    try:
        return await call()
    except ResponseError as exc:
        if not is_nogroup(exc):
            raise
    for stream in streams:
        await ensure_group(r, stream, group, start_id="0")
    log.warning("redis.group_recreated", group=group, streams=list(streams))
    return await call()


@dataclass(frozen=True, slots=True)
class Entry:
    """One stream entry read through a consumer group."""

    stream: str
    entry_id: str
    fields: Mapping[bytes, bytes]


async def read_group(
    r: Redis,
    streams: Sequence[str],
    group: str,
    consumer: str,
    *,
    count: int = 100,
    block_ms: int | None = BLOCK_MS,
    pending: bool = False,
) -> list[Entry]:
    """XREADGROUP over ``streams`` in order; ``pending=True`` re-reads this consumer's PEL."""
    start = "0" if pending else ">"
    reply: Any = await r.xreadgroup(
        group, consumer, dict.fromkeys(streams, start), count=count, block=block_ms
    )
    entries: list[Entry] = []
    for stream, items in reply or []:
        name = stream.decode() if isinstance(stream, bytes) else stream
        entries.extend(
            Entry(name, eid.decode() if isinstance(eid, bytes) else eid, fields)
            for eid, fields in items
            if fields is not None
        )
    return entries


def dead_record(entry: Entry, group: str, reason: str, reader: str) -> list[Any]:
    """Field/value pairs of a dead-letter record: where it came from, why, and the
    original fields kept under ``orig_<name>`` so nothing of the entry is lost."""
    record: list[Any] = [
        "source", entry.stream, "source_id", entry.entry_id, "group", group,
        "reader", reader, "reason", reason,
    ]  # fmt: skip
    for name, value in entry.fields.items():
        record += [b"orig_" + (name if isinstance(name, bytes) else str(name).encode()), value]
    return record


async def dead_letter(
    r: Redis, keys: Keys, entry: Entry, group: str, reason: str, *, reader: str
) -> bool:
    """Copy ``entry`` to the dead stream with ``reason``, then ack and count it (one
    script); False, writing nothing, when the entry is no longer pending in ``group``
    (a call retried after a lost reply, or another reader got there first)."""
    record = dead_record(entry, group, reason, reader)
    written = await script(r, "dead_letter")(
        keys=[keys.dead, entry.stream, keys.counter("dead_lettered")],
        args=[group, entry.entry_id, reader, DEAD_MAXLEN, *record],
    )
    if written:
        log.warning("entry.dead_lettered", stream=entry.stream, id=entry.entry_id, reason=reason)
    return bool(written)


def consumer_name(prefix: str) -> str:
    """A consumer name unique per process and start: ``prefix-host-pid-random``."""
    return f"{prefix}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
