"""A trigger that fires at a fixed local time every day."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.timing.triggers.base import UTC_ZONE, FoldPolicy, GapPolicy, check_policies
from shared.timing.triggers.wallclock import next_wall_fire


def check_local_time(at: time) -> None:
    """Raise ``ValueError`` if ``at`` carries a tzinfo (the trigger's zone decides)."""
    if at.tzinfo is not None:
        raise ValueError(f"time of day must be naive (the trigger's timezone applies): {at}")


def daily_walls(start: datetime, at: time) -> Iterator[datetime]:
    """``at`` on every day from ``start``'s date on, skipping those before ``start``."""
    day = start.date()
    if datetime.combine(day, at) < start:
        day += timedelta(days=1)
    while True:
        yield datetime.combine(day, at)
        day += timedelta(days=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class DailyTrigger:
    """Fires every day when the local clock in ``timezone`` shows ``at``.

    DST: a nonexistent ``at`` fires at the end of the gap (``gap="shift"``) or not at all
    (``"skip"``); an ambiguous one fires on its ``first``/``last``/``both`` occurrences.
    """

    at: time
    timezone: ZoneInfo = UTC_ZONE
    gap: GapPolicy = "shift"
    fold: FoldPolicy = "first"

    def __post_init__(self) -> None:
        check_local_time(self.at)
        check_policies(self.gap, self.fold)

    def next_fire_after(self, after: datetime) -> datetime | None:
        """The first local ``at`` strictly after ``after`` (aware UTC)."""
        return next_wall_fire(after, self.timezone, self._walls, gap=self.gap, fold=self.fold)

    def _walls(self, start: datetime) -> Iterator[datetime]:
        return daily_walls(start, self.at)
