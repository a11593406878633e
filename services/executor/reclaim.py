"""Taking over work from dead executors.

A live executor re-claims its own in-flight entries every heartbeat, so an entry idle
beyond the visibility timeout belongs to an executor that died or froze. XAUTOCLAIM
moves such entries to this consumer (walking the cursor over the whole PEL; ids that
stream trimming deleted are dropped from the PEL by Redis and logged here). Each claim
raises the entry's delivery count; past ``max_deliveries`` the entry is a poison pill
and is dead-lettered instead of run again. A group Redis lost is recreated from id 0.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

from redis.exceptions import ResponseError

from shared.contract.keys import EXECUTORS_GROUP
from shared.runtime.logging import get_logger
from shared.runtime.redis import Entry, Redis, regrouping, text

log = get_logger("watchkeeper.executor")
MAX_PASSES: Final = 20
"""Cursor steps per stream per round: bounds one round on a huge PEL; the next round
starts over, so nothing is skipped for good."""


@dataclass(frozen=True, slots=True)
class Claimed:
    """An entry taken over and how many times it has now been delivered."""

    entry: Entry
    deliveries: int


@dataclass
class Reclaimer:
    """Claims entries idle past ``min_idle_ms`` for ``consumer``."""

    r: Redis
    consumer: str
    min_idle_ms: int

    async def claim(self, stream: str, count: int) -> list[Claimed]:
        """Up to ``count`` idle entries of ``stream``, now owned by this consumer."""
        entries: list[Entry] = []
        cursor = "0-0"
        for _ in range(MAX_PASSES):
            if len(entries) >= count:
                break
            autoclaim = partial(self.r.xautoclaim, stream, EXECUTORS_GROUP, self.consumer,
                                self.min_idle_ms, cursor, count=count - len(entries))  # fmt: skip
            reply: Any = await regrouping(self.r, [stream], EXECUTORS_GROUP, autoclaim)
            cursor = text(reply[0])
            entries += [Entry(stream, text(eid), f) for eid, f in reply[1] if f is not None]
            self._log_deleted(stream, reply[2] if len(reply) > 2 else [])
            if cursor == "0-0":
                break
        return await self._with_deliveries(entries)

    async def forget_dead(
        self, stream: str, alive: Callable[[str], Awaitable[bool]], idle_ms: int
    ) -> list[str]:
        """Delete consumers of ``stream`` that own nothing, have been idle ``idle_ms`` and
        whose executor has no heartbeat (every restart adds a consumer; without this
        the group's consumer list only grows). Returns the names removed."""
        removed: list[str] = []
        try:
            consumers: Any = await self.r.xinfo_consumers(stream, EXECUTORS_GROUP)
        except ResponseError:  # stream or group gone (Redis emptied): no one to forget
            return removed
        for c in consumers:
            name = text(c["name"])
            if int(c["pending"]) or int(c["idle"]) < idle_ms or name == self.consumer:
                continue
            if not await alive(name):
                await self.r.xgroup_delconsumer(stream, EXECUTORS_GROUP, name)
                removed.append(name)
        if removed:
            log.info("reclaim.consumers_forgotten", stream=stream, consumers=removed)
        return removed

    def _log_deleted(self, stream: str, deleted: list[Any]) -> None:
        if deleted:
            ids = [text(d) for d in deleted]
            log.warning("reclaim.deleted_entries", stream=stream, ids=ids, reason="trimmed")

    async def _with_deliveries(self, entries: list[Entry]) -> list[Claimed]:
        if not entries:
            return []
        async with self.r.pipeline(transaction=False) as pipe:
            for e in entries:
                pipe.xpending_range(e.stream, EXECUTORS_GROUP, e.entry_id, e.entry_id, 1)
            replies = await pipe.execute()
        claimed = [
            Claimed(e, int(reply[0]["times_delivered"]) if reply else 1)
            for e, reply in zip(entries, replies, strict=True)
        ]
        for c in claimed:
            log.info("reclaim.claimed", stream=c.entry.stream, id=c.entry.entry_id,
                     deliveries=c.deliveries)  # fmt: skip
        return claimed
