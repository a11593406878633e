"""The search shared by every wall-clock trigger (hourly, daily, weekly, monthly, cron).

Each trigger only enumerates naive local wall times in increasing order; this module
turns them into UTC instants with the trigger's DST policy and picks the earliest one
strictly after ``after``. Enumerating local time (not UTC) is what makes "02:00 every
day" mean 02:00 on the clock on the wall, across offset changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from shared.timing.triggers.base import (
    MAX_ITERATIONS,
    FoldPolicy,
    GapPolicy,
    TriggerIterationError,
    as_utc,
)
from shared.timing.triggers.dst import fold_length, resolve_local, wall_time

Candidates = Callable[[datetime], Iterator[datetime]]
"""Given a naive local start, yield the trigger's naive local wall times at or after it,
in strictly increasing order (yielding a few earlier ones is harmless)."""

_LOOKAHEAD = timedelta(days=1)


def next_wall_fire(
    after: datetime,
    tz: ZoneInfo,
    candidates: Candidates,
    *,
    gap: GapPolicy,
    fold: FoldPolicy,
) -> datetime | None:
    """Earliest UTC instant strictly after ``after`` among the resolved candidates.

    Returns ``None`` when ``candidates`` runs out; raises :class:`TriggerIterationError`
    after :data:`MAX_ITERATIONS` candidates without an answer.
    """
    after = as_utc(after)
    best: datetime | None = None
    horizon: datetime | None = None
    for count, wall in enumerate(candidates(_search_start(after, tz))):
        if horizon is not None and wall >= horizon:
            break
        if count >= MAX_ITERATIONS:
            raise TriggerIterationError(f"no fire found within {MAX_ITERATIONS} candidates")
        later = [u for u in resolve_local(wall, tz, gap=gap, fold=fold) if u > after]
        if later:
            best = min([*later, best] if best is not None else later)
            # Only fold="both" breaks time order, and only inside this wall time's fold.
            horizon = horizon or wall + fold_length(wall, tz)
    return best


def _search_start(after: datetime, tz: ZoneInfo) -> datetime:
    """A local wall time no later than the wall time of any instant after ``after``.

    Usually the wall time of ``after`` itself; when the clock is about to fall back, a
    later instant shows an earlier wall time, so step back by the size of that fold.
    """
    now_offset = after.astimezone(tz).utcoffset()
    later_offset = (after + _LOOKAHEAD).astimezone(tz).utcoffset()
    assert now_offset is not None and later_offset is not None
    return wall_time(after, tz) - max(now_offset - later_offset, timedelta(0))
