"""Taking due entries: critical first, never more than the free slots, attempts counted,
leases taken.

XREADGROUP's COUNT applies per stream, so a multi-stream read could take more than
asked. Instead one script (``due_take``) reads each priority in order for what is still
free and counts each taken run's attempt before anything runs, all in one round trip; it
also takes each run's cluster-wide leases (``max_instances``, resource groups) when they
are free, so the usual run needs no semaphore round trip of its own (a run whose lease is
full waits for it in :class:`~services.executor.semaphores.Semaphores`). It returns each
due stream's newest id so that, when nothing was taken, a plain XREAD blocks from there on
all four streams (ids seen atomically with the reads, so nothing slips between). A group
Redis lost (emptied, flushed) is skipped by the script and recreated from id 0 here, then
read at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgpack

from services.executor.attempt import ATTEMPTS_TTL_S
from services.executor.semaphores import Lease
from shared.contract.keys import EXECUTORS_GROUP, Keys
from shared.contract.scripts import script
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

    def __post_init__(self) -> None:
        self._script = script(self.r, "due_take")
        self._all = list(self.keys.due_streams)
        self._read: dict[tuple[str, ...], list[str]] = {}
        # Keys around a run id, task or group name, so the script builds them as Keys does.
        k = self.keys
        affixes = [k.attempts("\0"), k.task_semaphore("\0"), k.group_semaphore("\0")]
        attempts, task, group = (a.split("\0") for a in affixes)
        groups = msgpack.packb(dict(self.resource_groups), use_bin_type=False)
        self._args = [*attempts, ATTEMPTS_TTL_S, self.holder_suffix, self.lease_ms,
                      *task, *group, groups]  # fmt: skip

    async def take(self, free: int, priorities: tuple[str, ...] = PRIORITIES) -> Taken:
        """Up to ``free`` new entries of ``priorities``, most urgent first, each attempt
        counted before it is returned (never blocks)."""
        streams = self._read.get(priorities)
        if streams is None:
            streams = self._read[priorities] = [self.keys.due(p) for p in PRIORITIES
                                                if p in priorities]  # fmt: skip
        taken = await self._call(streams, free)
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
        return await self._script(
            keys=[*streams, *self._all],
            args=[EXECUTORS_GROUP, self.consumer, free, len(streams), *self._args],
        )

    async def wait_for_work(self, since: dict[Any, Any], block_ms: int = BLOCK_MS) -> bool:
        """Block until an entry newer than ``since`` appears; True if one did."""
        reply = await self.r.xread(since, count=1, block=block_ms)
        return bool(reply)


def _pairs(flat: list[Any]) -> dict[Any, Any]:
    """An entry's fields from Redis' flat [field, value, ...] reply."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
