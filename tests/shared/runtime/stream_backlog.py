"""A consumer-group backlog on a stream, for trimming tests: old entries acked, pending
and unread by every group, and recent acked ones (inside ``streams.keep``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.runtime.redis import Redis, ensure_group, text

HOUR_S = 3600.0


@dataclass(frozen=True)
class Backlog:
    """Ids of a seeded stream, by what its groups did with them."""

    acked_old: list[str]
    pending_old: list[str]
    unread_old: list[str]
    acked_recent: list[str]
    unread_recent: list[str]

    @property
    def needed(self) -> list[str]:
        """What a trim must keep whatever the cutoff: pending and unread entries."""
        return self.pending_old + self.unread_old + self.unread_recent


async def seed(
    r: Redis, stream: str, groups: tuple[str, ...], now_s: float, *, read_all: bool = False
) -> Backlog:
    """Ten entries two hours old then three a minute old. Each group reads six (all
    thirteen with ``read_all``) and acks three (all it read with ``read_all``)."""
    old_ms, recent_ms = int((now_s - 2 * HOUR_S) * 1000), int((now_s - 60) * 1000)
    ids = [f"{old_ms}-{n}" for n in range(10)] + [f"{recent_ms}-{n}" for n in range(3)]
    for entry_id in ids:
        await r.xadd(stream, {"n": entry_id}, id=entry_id)
    for group in groups:
        await ensure_group(r, stream, group, start_id="0")
        read: Any = await r.xreadgroup(group, "c", {stream: ">"}, count=13 if read_all else 6)
        delivered = [text(i) for i, _ in read[0][1]]
        await r.xack(stream, group, *(delivered if read_all else delivered[:3]))
    if read_all:
        return Backlog(ids[:10], [], [], ids[10:], [])
    return Backlog(ids[:3], ids[3:6], ids[6:10], [], ids[10:])


async def ids_of(r: Redis, stream: str) -> list[str]:
    """Every entry id left on ``stream``, oldest first."""
    return [text(i) for i, _ in await r.xrange(stream)]
