"""Taking due entries: critical first, never more than the free slots, attempts counted,
leases taken.

XREADGROUP's COUNT applies per stream, so a multi-stream read could take more than
asked. Instead one script (``due_take``) reads each priority in order for what is still
free and counts each taken run's attempt before anything runs, all in one round trip; it
also takes each run's cluster-wide leases (``max_instances``, resource groups) when they
are free, so the usual run needs no semaphore round trip of its own (a run whose lease is
full waits for it in :class:`~services.executor.semaphores.Semaphores`). It returns each
due stream's newest id so that, when the streams held fewer than the free slots, the next
take first blocks (XREAD) from there on all four streams (ids seen atomically with the
reads, so nothing slips between). That take is queued behind the blocking read on the same
connection (:meth:`Intake.take_when_new`): Redis runs it the moment the read returns, so a
run arriving at an idle executor is taken with no round trip after the wake-up. A group
Redis lost (emptied, flushed) is skipped by the script and recreated from id 0 here, then
read at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgpack
from redis.asyncio.connection import Connection
from redis.exceptions import NoScriptError

from services.executor.attempt import ATTEMPTS_TTL_S
from services.executor.semaphores import Lease
from shared.contract.keys import EXECUTORS_GROUP, Keys
from shared.contract.scripts import ScriptClient, run, sha
from shared.contract.vocabulary import PRIORITIES
from shared.runtime.redis import BLOCK_MS, Entry, Redis, ensure_group


@dataclass(frozen=True, slots=True)
class Taken:
    """One intake read: entries with the attempt counted for each (0: not a readable
    ``task.due``, left for the reader to dead-letter), the leases taken for each (None:
    none taken) and each due stream's newest id."""

    entries: list[Entry]
    attempts: list[int]
    last_ids: dict[Any, Any] = field(default_factory=dict)
    leases: list[Lease | None] = field(default_factory=list)


@dataclass
class Intake:
    """Reads this executor's share of the due streams."""

    r: Redis
    keys: Keys
    consumer: str
    holder_suffix: str = ""
    """A run's lease holder is its run id followed by this; "" takes no leases."""
    lease_ms: int = 60_000
    resource_groups: Mapping[str, int] = field(default_factory=dict)
    lane: ScriptClient | None = None
    """Where :meth:`take` calls its script when set (the service's
    :class:`~shared.runtime.lane.Lane`)."""

    def __post_init__(self) -> None:
        self._all = list(self.keys.due_streams)
        self._read: dict[tuple[str, ...], list[str]] = {}
        # Keys around a run id, task or group name, so the script builds them as Keys does.
        k = self.keys
        affixes = [k.attempts("\0"), k.task_semaphore("\0"), k.group_semaphore("\0")]
        attempts, task, group = (a.split("\0") for a in affixes)
        groups = msgpack.packb(dict(self.resource_groups), use_bin_type=False)
        self._args = [*attempts, ATTEMPTS_TTL_S, self.holder_suffix, self.lease_ms,
                      *task, *group, groups]  # fmt: skip
        self._sha = sha("due_take")
        self._waiting: int | None = None
        """The connection id of the wait in progress (None: none is, or not known yet)."""
        self._unblocked = False

    async def take(self, free: int, priorities: tuple[str, ...] = PRIORITIES) -> Taken:
        """Up to ``free`` new entries of ``priorities``, most urgent first, each attempt
        counted before it is returned (never blocks)."""
        streams = self._streams(priorities)
        return await self._taken(await self._call(streams, free), streams, free)

    def _streams(self, priorities: tuple[str, ...]) -> list[str]:
        """The due streams of ``priorities``, most urgent first."""
        streams = self._read.get(priorities)
        if streams is None:
            streams = self._read[priorities] = [self.keys.due(p) for p in PRIORITIES
                                                if p in priorities]  # fmt: skip
        return streams

    async def _taken(self, taken: Any, streams: list[str], free: int) -> Taken:
        """The script's reply as :class:`Taken`; groups Redis lost are recreated first
        (and read at once)."""
        if taken[1]:  # groups Redis lost: recreate from 0 (nothing written since is skipped)
            for stream in taken[1]:
                await ensure_group(self.r, _text(stream), EXECUTORS_GROUP)
            taken = await self._call(streams, free)
        entries, attempts, leases = [], [], []
        for stream, eid, flat, attempt, leased, holder in taken[0]:
            entries.append(Entry(_text(stream), _text(eid), _pairs(flat)))
            attempts.append(int(attempt))
            leases.append(Lease(_text(holder), tuple(map(_text, leased))) if leased else None)
        last = dict(zip(self._all, taken[2], strict=True))
        return Taken(entries, attempts, last, leases)

    async def _call(self, streams: list[str], free: int) -> Any:
        return await run(self.lane or self.r, "due_take", [*streams, *self._all],
                         self._call_args(streams, free))  # fmt: skip

    def _call_args(self, streams: list[str], free: int) -> list[Any]:
        return [EXECUTORS_GROUP, self.consumer, free, len(streams), *self._args]

    async def wait_for_work(self, since: dict[Any, Any], block_ms: int = BLOCK_MS) -> bool:
        """Block until an entry newer than ``since`` appears; True if one did."""
        reply = await self.r.xread(since, count=1, block=block_ms)
        return bool(reply)

    async def take_when_new(
        self, since: dict[Any, Any], free: int, priorities: tuple[str, ...] = PRIORITIES,
        *, block_ms: int = BLOCK_MS,
    ) -> Taken:  # fmt: skip
        """Block until an entry newer than ``since`` appears, then :meth:`take`, with no
        round trip between: the script call is queued behind the blocking read (XREAD of
        every due stream) on one connection, and Redis runs it the moment the read
        returns (an entry arrived, or ``block_ms`` passed). :meth:`unblock` ends the wait
        early; what the take took then is returned all the same, to be started like any
        other. After :meth:`unblock`, a plain :meth:`take` (nothing to wait for)."""
        if self._unblocked:
            return await self.take(free, priorities)
        streams = self._streams(priorities)
        wait = ["XREAD", "COUNT", 1, "BLOCK", block_ms, "STREAMS", *since, *since.values()]
        call = ["EVALSHA", self._sha, len(streams) + len(self._all), *streams, *self._all,
                *self._call_args(streams, free)]  # fmt: skip
        pool = self.r.connection_pool
        conn: Connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await conn.send_packed_command(conn.pack_commands([("CLIENT", "ID"), wait, call]))
            self._waiting = int(await conn.read_response())  # CLIENT ID's, at once
            if self._unblocked:  # asked while that reply was on its way
                await self.r.client_unblock(self._waiting)
            await conn.read_response()  # the wait: an entry or nil (errors are raised)
            try:
                reply = await conn.read_response()
            except NoScriptError:  # Redis lost its scripts: the plain call loads it
                return await self.take(free, priorities)
        except BaseException:
            # Replies may be left unread: the connection must not serve anyone again.
            await asyncio.shield(conn.disconnect())
            raise
        finally:
            self._waiting = None
            await asyncio.shield(pool.release(conn))
        return await self._taken(reply, streams, free)

    async def unblock(self) -> None:
        """End the wait of :meth:`take_when_new` in progress, if any (``CLIENT UNBLOCK``
        from another connection: its take then runs at once), and of any later call."""
        self._unblocked = True
        if self._waiting is not None:
            await self.r.client_unblock(self._waiting)


def _pairs(flat: list[Any]) -> dict[Any, Any]:
    """An entry's fields from Redis' flat [field, value, ...] reply."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
