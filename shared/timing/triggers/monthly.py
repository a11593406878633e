"""A trigger that fires at a fixed local time on one day of every month."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Literal
from zoneinfo import ZoneInfo

from shared.timing.triggers.base import UTC_ZONE, FoldPolicy, GapPolicy, check_policies
from shared.timing.triggers.daily import check_local_time
from shared.timing.triggers.wallclock import next_wall_fire


@dataclass(frozen=True, slots=True, kw_only=True)
class MonthlyTrigger:
    """Fires at local time ``at`` on day ``day`` (1..31) or the ``"last"`` day of each month.

    Months without that day (day 31 in April, day 30 in February) are skipped, not
    moved. DST policies as for :class:`DailyTrigger`.
    """

    day: int | Literal["last"]
    at: time
    timezone: ZoneInfo = UTC_ZONE
    gap: GapPolicy = "shift"
    fold: FoldPolicy = "first"

    def __post_init__(self) -> None:
        if self.day != "last" and (isinstance(self.day, bool) or not 1 <= self.day <= 31):
            raise ValueError(f"day of month must be 1..31 or 'last', got {self.day!r}")
        check_local_time(self.at)
        check_policies(self.gap, self.fold)

    def next_fire_after(self, after: datetime) -> datetime | None:
        """The first month's local ``day`` at ``at`` strictly after ``after`` (aware UTC)."""
        return next_wall_fire(after, self.timezone, self._walls, gap=self.gap, fold=self.fold)

    def _walls(self, start: datetime) -> Iterator[datetime]:
        year, month = start.year, start.month
        while True:
            day = self._day_in(year, month)
            if day is not None and datetime.combine(day, self.at) >= start:
                yield datetime.combine(day, self.at)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)

    def _day_in(self, year: int, month: int) -> date | None:
        length = calendar.monthrange(year, month)[1]
        if self.day == "last":
            return date(year, month, length)
        return date(year, month, self.day) if self.day <= length else None
