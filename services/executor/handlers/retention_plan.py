"""Retention of Watchkeeper's own data in Redis: what is past its time, and removing it.

Used by the ``retention`` handler (a daily task) and ``watchkeeper cleanup``:

- history-like streams (``history``, ``history:<task>``, alerts log, dead letters) are
  trimmed to ``history_s``, the consumed ones (triggers, control, due, results, alerts)
  to ``streams_keep_s``, both with ``XTRIM MINID`` and never below what a consumer
  group still needs (:mod:`shared.runtime.trim`);
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
from typing import Final

from shared.contract.keys import Keys
from shared.runtime.redis import Redis, text
from shared.runtime.trim import trim_consumed, trim_stream

SCAN_COUNT: Final = 1000
DELETE_BATCH: Final = 500
FINISHED_AT: Final = "finished_at"
"""The field of a result hash (:class:`~shared.contract.readmodel.ResultRecord`) read here."""
_DAY_RE: Final = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})$")


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long each kind of data is kept (seconds); None keeps it."""

    history_s: float
    reports_s: float | None = None
    streams_keep_s: float = 3600.0


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


def streams_of(keys: Keys, task_streams: Sequence[str]) -> list[str]:
    """Every history-like stream retention trims by ``history_s`` (the consumed ones go
    by ``streams_keep_s``: :func:`~shared.runtime.trim.trim_consumed`)."""
    return [keys.history, keys.alerts_log, keys.dead, *task_streams]


async def trim_streams(r: Redis, keys: Keys, cutoff: float, *, dry_run: bool) -> int:
    """Trim every history-like stream to ``cutoff`` (epoch s) but never below a group's
    needs."""
    tasks = await _scan(r, keys.task_history("*"))
    removed = 0
    for stream in streams_of(keys, tasks):
        removed += await trim_stream(r, stream, cutoff, dry_run=dry_run)
    return removed


def per_stream(keys: Keys, done: dict[str, int]) -> dict[str, int]:
    """``{ns}:stream:due:high`` → ``stream_due_high``: counts named for reports."""
    prefix = f"{keys.ns}:stream:"
    return {"stream_" + s.removeprefix(prefix).replace(":", "_"): n for s, n in done.items()}


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
    consumed = await trim_consumed(r, keys, now - policy.streams_keep_s, dry_run=dry_run)
    done = {
        "stream_entries": await trim_streams(r, keys, cutoff, dry_run=dry_run),
        **per_stream(keys, consumed),
        "results": await _delete(r, await expired_results(r, keys, cutoff), dry_run=dry_run),
        "daily_metrics": await _delete(
            r, expired_days(await _scan(r, keys.metrics("*", "*")), cutoff), dry_run=dry_run
        ),
    }
    if policy.reports_s is not None:
        reports = expired_days(await _scan(r, keys.report("*", "*")), now - policy.reports_s)
        done["reports"] = await _delete(r, reports, dry_run=dry_run)
    return done
