"""Taking due entries: critical first, never more than the free slots.

XREADGROUP's COUNT applies per stream, so a multi-stream read could take more than
asked. Instead each priority is read without blocking, in order, for what is still
free; when nothing is there, a plain XREAD blocks on all four streams from their last
ids (seen before the group reads, so nothing slips between) to wake on new work. A group
Redis lost (emptied, flushed) is recreated from id 0 on the spot.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from shared.contract.keys import EXECUTORS_GROUP, Keys
from shared.contract.vocabulary import PRIORITIES
from shared.runtime.redis import BLOCK_MS, Entry, Redis, read_group, regrouping


@dataclass
class Intake:
    """Reads this executor's share of the due streams."""

    r: Redis
    keys: Keys
    consumer: str

    async def take(self, free: int, priorities: tuple[str, ...] = PRIORITIES) -> list[Entry]:
        """Up to ``free`` new entries of ``priorities``, most urgent first (never blocks)."""
        taken: list[Entry] = []
        for stream in [self.keys.due(p) for p in PRIORITIES if p in priorities]:
            if len(taken) >= free:
                break
            read = partial(read_group, self.r, [stream], EXECUTORS_GROUP, self.consumer,
                           count=free - len(taken), block_ms=None)  # fmt: skip
            taken += await regrouping(self.r, [stream], EXECUTORS_GROUP, read)
        return taken

    async def last_ids(self) -> dict[Any, Any]:
        """The newest id of each due stream ('0-0' when empty)."""
        async with self.r.pipeline(transaction=False) as pipe:
            for stream in self.keys.due_streams:
                pipe.xrevrange(stream, count=1)
            replies = await pipe.execute()
        return {
            stream: (reply[0][0] if reply else b"0-0")
            for stream, reply in zip(self.keys.due_streams, replies, strict=True)
        }

    async def wait_for_work(self, since: dict[Any, Any], block_ms: int = BLOCK_MS) -> bool:
        """Block until an entry newer than ``since`` appears; True if one did."""
        reply = await self.r.xread(since, count=1, block=block_ms)
        return bool(reply)
