"""A trigger that fires at a fixed local time on chosen weekdays."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from shared.timing.triggers.base import UTC_ZONE, FoldPolicy, GapPolicy, check_policies
from shared.timing.triggers.daily import check_local_time, daily_walls
from shared.timing.triggers.wallclock import next_wall_fire


@dataclass(frozen=True, slots=True, kw_only=True)
class WeeklyTrigger:
    """Fires at local time ``at`` on each weekday in ``days`` (Monday=0 .. Sunday=6).

    ``days`` must be non-empty. DST policies as for :class:`DailyTrigger`.
    """

    days: frozenset[int]
    at: time
    timezone: ZoneInfo = UTC_ZONE
    gap: GapPolicy = "shift"
    fold: FoldPolicy = "first"

    def __post_init__(self) -> None:
        if not self.days:
            raise ValueError("weekly trigger needs at least one weekday")
        if not self.days <= frozenset(range(7)):
            raise ValueError(f"weekdays must be 0 (Monday) .. 6 (Sunday), got {sorted(self.days)}")
        check_local_time(self.at)
        check_policies(self.gap, self.fold)

    def next_fire_after(self, after: datetime) -> datetime | None:
        """The first chosen weekday's local ``at`` strictly after ``after`` (aware UTC)."""
        return next_wall_fire(after, self.timezone, self._walls, gap=self.gap, fold=self.fold)

    def _walls(self, start: datetime) -> Iterator[datetime]:
        return (wall for wall in daily_walls(start, self.at) if wall.weekday() in self.days)
