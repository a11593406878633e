"""Retention of Watchkeeper's own data in Redis: what is past its time, and removing it.

Used by the ``retention`` handler (a daily task) and ``watchkeeper cleanup``:

- streams (``history``, ``history:<task>``, results, alerts, alerts log, dead letters)
  are trimmed by time with ``XTRIM MINID`` — never below what a consumer group still
  needs (its oldest pending entry, or anything it has not read yet: :func:`floor_id`);
- result hashes whose run finished before the cutoff, and daily metrics hashes of days
  wholly before it, are deleted;
- stored reports (``reports:<kind>:<date>``) older than their own retention are deleted.

The choices are pure functions; :func:`apply_retention` reads, chooses and (unless
``dry_run``) deletes, and reports how many of each kind went (or would go).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from redis.exceptions import ResponseError

from shared.contract.keys import Keys
from shared.runtime.redis import Redis, text

SCAN_COUNT: Final = 1000
DELETE_BATCH: Final = 500
FINISHED_AT: Final = "finished_at"
"""The field of a result hash (:class:`~shared.contract.readmodel.ResultRecord`) read here."""
_DAY_RE: Final = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})$")

StreamId = tuple[int, int]


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long each kind of data is kept (seconds); None keeps it."""

    history_s: float
    reports_s: float | None = None


def parse_id(entry_id: str) -> StreamId:
    """``"1700000000000-3"`` → ``(1700000000000, 3)``."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def floor_id(cutoff: StreamId, groups: Iterable[tuple[str, str | None]]) -> StreamId:
    """The MINID to trim with: ``cutoff``, lowered to each group's oldest pending entry
    and to its last delivered one (what follows it has not been read yet).

    ``groups`` are ``(last delivered id, oldest pending id or None)``.
    """
    floor = cutoff
    for last_delivered, oldest_pending in groups:
        floor = min(floor, parse_id(last_delivered))
        if oldest_pending is not None:
            floor = min(floor, parse_id(oldest_pending))
    return floor


def day_of_key(key: str) -> date | None:
    """The date a key ends with (``…:20260105`` or ``…:2026-01-05``), None if it does not."""
    match = _DAY_RE.search(key)
    if match is None:
        return None
    try:
        return date(*(int(g) for g in match.groups()))
    except ValueError:
        return None


def expired_days(keys: Iterable[str], cutoff: float) -> list[str]:
    """Keys whose date is a UTC day that ended at or before ``cutoff``."""
    cut = datetime.fromtimestamp(cutoff, UTC)
    out = []
    for key in keys:
        day = day_of_key(key)
        if (
            day is not None
            and datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1) <= cut
        ):
            out.append(key)
    return sorted(out)


async def _scan(r: Redis, pattern: str) -> list[str]:
    return sorted({text(k) async for k in r.scan_iter(pattern, count=SCAN_COUNT)})


async def _groups(r: Redis, stream: str) -> list[tuple[str, str | None]]:
    try:
        groups: Any = await r.xinfo_groups(stream)
    except ResponseError:  # no such stream
        return []
    out = []
    for g in groups:
        pending: Any = await r.xpending(stream, text(g["name"]))
        oldest = text(pending["min"]) if pending["pending"] else None
        out.append((text(g["last-delivered-id"]), oldest))
    return out


async def _count_below(r: Redis, stream: str, floor: StreamId) -> int:
    """Entries with an id below ``floor`` (what ``XTRIM MINID`` would remove)."""
    if floor == (0, 0):
        return 0  # nothing is below the first possible id
    count, low = 0, "-"
    high = f"({floor[0]}-{floor[1]}"
    while True:
        page: Any = await r.xrange(stream, min=low, max=high, count=SCAN_COUNT)
        count += len(page)
        if len(page) < SCAN_COUNT:
            return count
        low = "(" + text(page[-1][0])


def streams_of(keys: Keys, task_streams: Sequence[str]) -> list[str]:
    """Every stream retention trims."""
    fixed = [keys.history, keys.results, keys.alerts_stream, keys.alerts_log, keys.dead]
    return [*fixed, *task_streams]


async def trim_streams(r: Redis, keys: Keys, cutoff: float, *, dry_run: bool) -> int:
    """Trim every stream to ``cutoff`` (epoch s) but never below a group's needs."""
    tasks = await _scan(r, keys.task_history("*"))
    removed = 0
    for stream in streams_of(keys, tasks):
        floor = floor_id((int(cutoff * 1000), 0), await _groups(r, stream))
        if dry_run:
            removed += await _count_below(r, stream, floor)
        else:
            removed += int(await r.xtrim(stream, minid=f"{floor[0]}-{floor[1]}", approximate=False))
    return removed


async def expired_results(r: Redis, keys: Keys, cutoff: float) -> list[str]:
    """Result hashes of runs that finished before ``cutoff``."""
    names = await _scan(r, keys.result("*"))
    async with r.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hget(name, FINISHED_AT)
        finished = await pipe.execute()
    return [n for n, at in zip(names, finished, strict=True) if at and float(at) < cutoff]


async def _delete(r: Redis, names: Sequence[str], *, dry_run: bool) -> int:
    if dry_run or not names:
        return len(names)
    deleted = 0
    for start in range(0, len(names), DELETE_BATCH):
        deleted += int(await r.unlink(*names[start : start + DELETE_BATCH]))
    return deleted


async def apply_retention(
    r: Redis, keys: Keys, policy: RetentionPolicy, now: float, *, dry_run: bool = False
) -> dict[str, int]:
    """Remove (or count, with ``dry_run``) everything past ``policy`` at ``now``."""
    cutoff = now - policy.history_s
    done = {
        "stream_entries": await trim_streams(r, keys, cutoff, dry_run=dry_run),
        "results": await _delete(r, await expired_results(r, keys, cutoff), dry_run=dry_run),
        "daily_metrics": await _delete(
            r, expired_days(await _scan(r, keys.metrics("*", "*")), cutoff), dry_run=dry_run
        ),
    }
    if policy.reports_s is not None:
        reports = expired_days(await _scan(r, keys.report("*", "*")), now - policy.reports_s)
        done["reports"] = await _delete(r, reports, dry_run=dry_run)
    return done
