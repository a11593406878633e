"""Cluster-wide limits: ``max_instances`` per task and named resource groups.

Each limit is a leased semaphore in Redis (a sorted set holder → lease expiry, see
``shared/contract/lua/semaphore_acquire.lua``). A run takes every lease it needs at once or
none, so two runs that each need two groups cannot deadlock. Leases are renewed while
the run is alive and lapse on their own when its executor dies.

The usual run's leases are taken by the intake script (``due_take.lua``) in the round trip
that takes the run, and released by the script that publishes its result
(``run_publish.lua``): :meth:`Semaphores.adopt` and :meth:`Semaphores.hand_over`. A run
whose lease was full at intake waits for it here, and one that ends without publishing
(shutdown, Redis gone) gives its leases back here or lets them lapse.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from shared.contract.events import TaskDue
from shared.contract.keys import Keys
from shared.contract.scripts import script
from shared.runtime.clock import Clock
from shared.runtime.logging import get_logger
from shared.runtime.redis import Redis

log = get_logger("watchkeeper.executor")
POLL_MIN_S: Final = 0.05
POLL_MAX_S: Final = 1.0
UNKNOWN_GROUP_LIMIT: Final = 1
"""A resource group the executor's config does not name is treated as exclusive."""


@dataclass(frozen=True, slots=True)
class Lease:
    """The leases one run holds: its holder name and the semaphore keys."""

    holder: str
    names: tuple[str, ...]


def limits_for(due: TaskDue, keys: Keys, groups: Mapping[str, int]) -> dict[str, int]:
    """Semaphore key → limit for every cluster-wide limit ``due`` is subject to."""
    limits: dict[str, int] = {}
    if due.max_instances is not None:
        limits[keys.task_semaphore(due.task)] = due.max_instances
    for name in due.resources:
        limits[keys.group_semaphore(name)] = groups.get(name, UNKNOWN_GROUP_LIMIT)
    return limits


@dataclass
class Semaphores:
    """Acquires, renews and releases leases for this executor's runs."""

    r: Redis
    lease_ms: int
    clock: Clock
    held: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._acquire = script(self.r, "semaphore_acquire")
        self._renew = script(self.r, "semaphore_renew")

    def adopt(self, lease: Lease) -> None:
        """Hold ``lease``, taken elsewhere (the intake script): renewed from now on."""
        self.held[lease.holder] = tuple(dict.fromkeys((*self.held.get(lease.holder, ()),
                                                       *lease.names)))  # fmt: skip

    def hand_over(self, holder: str) -> Lease | None:
        """Stop holding ``holder``'s leases here: the caller releases them (the publish
        script does, with the result). None when it holds none."""
        names = self.held.pop(holder, ())
        return Lease(holder, names) if names else None

    async def try_acquire(self, holder: str, limits: Mapping[str, int]) -> str | None:
        """Take every lease in ``limits`` for ``holder``; None on success, else the full key."""
        names = list(limits)
        full = await self._acquire(keys=names, args=[holder, self.lease_ms, *limits.values()])
        if int(full) == 0:
            self.adopt(Lease(holder, tuple(names)))
            return None
        return names[int(full) - 1]

    async def take(
        self, holder: str, limits: Mapping[str, int], give_up_at: float | None = None
    ) -> bool:
        """Hold every lease in ``limits``; waits while any is full. Leases already held
        (taken by the intake) are not asked for again.

        Returns False (holding nothing) when ``clock.monotonic()`` passes ``give_up_at`` first.
        Whatever is still held here at the end of the run goes back with :meth:`give_back`.
        """
        if not limits or self._holds(holder, limits):
            return True
        return await self._wait(holder, limits, give_up_at)

    async def give_back(self, holder: str) -> None:
        """Release ``holder``'s leases still held here (not handed over), even while the
        caller is being cancelled."""
        if holder in self.held:
            await asyncio.shield(self.release(holder))

    def _holds(self, holder: str, limits: Mapping[str, int]) -> bool:
        held = self.held.get(holder)
        return held is not None and all(name in held for name in limits)

    async def _wait(self, holder: str, limits: Mapping[str, int], give_up_at: float | None) -> bool:
        delay, logged = POLL_MIN_S, False
        while (full := await self.try_acquire(holder, limits)) is not None:
            if give_up_at is not None and self.clock.monotonic() >= give_up_at:
                return False
            if not logged:
                log.info("run.waiting_for_limit", holder=holder, semaphore=full)
                logged = True
            await self.clock.sleep(delay)
            delay = min(delay * 2, POLL_MAX_S)
        return True

    async def renew_all(self) -> None:
        """Extend every lease this executor holds (called with each heartbeat)."""
        for holder, names in list(self.held.items()):
            renewed = await self._renew(keys=list(names), args=[holder, self.lease_ms])
            if int(renewed) < len(names):
                log.warning("semaphore.lease_lost", holder=holder, held=int(renewed))

    async def release(self, holder: str) -> None:
        """Give back every lease of ``holder``."""
        names = self.held.pop(holder, ())
        if not names:
            return
        if len(names) == 1:  # the usual case (max_instances only): no MULTI/EXEC needed
            await self.r.zrem(names[0], holder)
            return
        async with self.r.pipeline(transaction=True) as pipe:
            for name in names:
                pipe.zrem(name, holder)
            await pipe.execute()
