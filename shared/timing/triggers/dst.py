"""Local wall time → UTC instants, under an explicit policy for DST gaps and folds.

zoneinfo maps a nonexistent local time to *some* instant and an ambiguous one to the
instant picked by ``fold``; schedules need a stated rule instead, so every wall-clock
trigger, calendar and window resolves local times through :func:`resolve_local`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from shared.timing.triggers.base import FoldPolicy, GapPolicy


def wall_time(instant: datetime, tz: ZoneInfo) -> datetime:
    """The naive local wall time shown in ``tz`` at the aware ``instant``."""
    return instant.astimezone(tz).replace(tzinfo=None)


def resolve_local(
    wall: datetime, tz: ZoneInfo, *, gap: GapPolicy, fold: FoldPolicy
) -> tuple[datetime, ...]:
    """The UTC instants at which naive local time ``wall`` in ``tz`` fires.

    Ordinary time: one instant. Nonexistent time (in a gap): ``gap="shift"`` gives the
    instant the gap ends (the first instant after it), ``"skip"`` gives none. Ambiguous
    time (in a fold): ``fold`` picks the first occurrence, the last, or both (ascending).
    """
    earlier_offset = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    later_offset = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if earlier_offset == later_offset:
        return (earlier_offset,)
    if wall_time(earlier_offset, tz) != wall:
        # Gap: fold=0 applied the pre-transition offset, so the gap end lies between.
        if gap == "skip":
            return ()
        return (_transition(later_offset, earlier_offset, tz),)
    first, last = sorted((earlier_offset, later_offset))
    return {"first": (first,), "last": (last,), "both": (first, last)}[fold]


def local_to_utc(wall: datetime, tz: ZoneInfo) -> datetime:
    """One UTC instant for ``wall``: gap shifted to its end, fold on first occurrence.

    The resolution calendars and windows use for their session and window bounds.
    """
    return resolve_local(wall, tz, gap="shift", fold="first")[0]


def fold_length(wall: datetime, tz: ZoneInfo) -> timedelta:
    """How far apart the two occurrences of an ambiguous ``wall`` are (zero otherwise)."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    return max(second - first, timedelta(0))


def _transition(before: datetime, after: datetime, tz: ZoneInfo) -> datetime:
    """First instant in (before, after] whose UTC offset equals the offset at ``after``.

    Bisection on whole seconds: tz transitions happen on whole seconds.
    """
    target = after.astimezone(tz).utcoffset()
    low, high = int(before.timestamp()), int(after.timestamp())
    while high - low > 1:
        mid = (low + high) // 2
        if datetime.fromtimestamp(mid, tz).utcoffset() == target:
            high = mid
        else:
            low = mid
    return datetime.fromtimestamp(high, UTC)
