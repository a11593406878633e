"""Trimming streams by time without losing anything a consumer group still needs.

One rule for every trim of a stream (the scheduler leader's periodic pass, the
``retention`` handler, ``watchkeeper cleanup``): ``XTRIM MINID`` to the time cutoff,
lowered to each group's oldest pending entry and to the entry after its last delivered
one, so nothing pending or unread ever goes (:func:`floor_id`).

The consumed streams (:func:`~shared.runtime.probes.expected_groups`: triggers, control,
due, results, alerts — one list, so a stream added there is trimmed too) are trimmed
only while every group the services read them with exists: a stream whose group was
lost, or not created yet, keeps everything until its reader is back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from redis.exceptions import ResponseError

from shared.contract.keys import Keys
from shared.runtime.clock import Clock
from shared.runtime.logging import get_logger
from shared.runtime.probes import expected_groups
from shared.runtime.redis import Redis, text

log = get_logger("watchkeeper.trim")

PAGE: Final = 1000
StreamId = tuple[int, int]
GroupNeeds = tuple[str, str, str | None]
"""``(group name, last delivered id, oldest pending id or None)``."""


def parse_id(entry_id: str) -> StreamId:
    """``"1700000000000-3"`` → ``(1700000000000, 3)``."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def floor_id(cutoff: StreamId, groups: Iterable[tuple[str, str | None]]) -> StreamId:
    """The MINID to trim with: ``cutoff``, lowered to each group's oldest pending entry
    and to the one after its last delivered entry (what follows has not been read).

    ``groups`` are ``(last delivered id, oldest pending id or None)``.
    """
    floor = cutoff
    for last_delivered, oldest_pending in groups:
        ms, seq = parse_id(last_delivered)
        floor = min(floor, (ms, seq + 1))
        if oldest_pending is not None:
            floor = min(floor, parse_id(oldest_pending))
    return floor


async def group_needs(r: Redis, stream: str) -> list[GroupNeeds]:
    """What each group of ``stream`` still needs (empty when there is no such stream)."""
    try:
        groups: Any = await r.xinfo_groups(stream)
    except ResponseError:  # no such stream
        return []
    out = []
    for g in groups:
        name = text(g["name"])
        pending: Any = await r.xpending(stream, name)
        oldest = text(pending["min"]) if pending["pending"] else None
        out.append((name, text(g["last-delivered-id"]), oldest))
    return out


async def count_below(r: Redis, stream: str, floor: StreamId) -> int:
    """Entries with an id below ``floor`` (what ``XTRIM MINID`` would remove)."""
    if floor <= (0, 1):
        return 0  # nothing is below the first possible id
    count, low = 0, "-"
    high = f"({floor[0]}-{floor[1]}"
    while True:
        page: Any = await r.xrange(stream, min=low, max=high, count=PAGE)
        count += len(page)
        if len(page) < PAGE:
            return count
        low = "(" + text(page[-1][0])


async def trim_to(
    r: Redis, stream: str, cutoff_s: float, needs: list[GroupNeeds], *, dry_run: bool
) -> int:
    """Trim ``stream`` to ``cutoff_s`` (epoch s) but never below ``needs``; how many
    entries went (or, with ``dry_run``, would go)."""
    floor = floor_id((max(0, int(cutoff_s * 1000)), 0), [n[1:] for n in needs])
    if dry_run:
        return await count_below(r, stream, floor)
    return int(await r.xtrim(stream, minid=f"{floor[0]}-{floor[1]}", approximate=False))


async def trim_stream(r: Redis, stream: str, cutoff_s: float, *, dry_run: bool) -> int:
    """Trim one stream by time, never below what any of its groups needs."""
    return await trim_to(r, stream, cutoff_s, await group_needs(r, stream), dry_run=dry_run)


async def trim_consumed(r: Redis, keys: Keys, cutoff_s: float, *, dry_run: bool) -> dict[str, int]:
    """Trim every consumed stream to ``cutoff_s``; entries removed by stream. A stream
    missing one of its groups is left whole (its reader may not have read it yet)."""
    done = {}
    for stream, wanted in expected_groups(keys).items():
        needs = await group_needs(r, stream)
        if not set(wanted) <= {n[0] for n in needs}:
            done[stream] = 0
            continue
        done[stream] = await trim_to(r, stream, cutoff_s, needs, dry_run=dry_run)
    return done


async def server_time_s(r: Redis) -> float:
    """Redis' own clock (epoch s): the one that stamps ``XADD *`` ids."""
    seconds, micros = await r.time()
    return float(seconds) + micros / 1e6


@dataclass
class PeriodicTrim:
    """Trims the consumed streams at most once per ``every_s`` (monotonic), keeping
    ``keep_s`` of acknowledged entries for operators to inspect.

    ``keep_s`` is measured on Redis' clock, which stamped the entry ids: a step of this
    host's wall clock neither trims early nor keeps entries an hour too long.
    """

    r: Redis
    keys: Keys
    clock: Clock
    keep_s: float
    every_s: float
    _last: float | None = None

    async def step(self) -> int | None:
        """Trim if a pass is due; entries removed, or None when none was due."""
        now = self.clock.monotonic()
        if self._last is not None and now - self._last < self.every_s:
            return None
        self._last = now
        cutoff_s = await server_time_s(self.r) - self.keep_s
        done = await trim_consumed(self.r, self.keys, cutoff_s, dry_run=False)
        removed = sum(done.values())
        if removed:
            log.info("streams.trimmed", removed=removed,
                     streams={s: n for s, n in done.items() if n})  # fmt: skip
        return removed
