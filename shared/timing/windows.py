"""Maintenance windows: recurring local time ranges in which tasks may run.

A window occurs on each chosen weekday from ``hours[0]`` to ``hours[1]`` local time; an
end at or before the start runs past midnight ("22:00-02:00"), an end equal to the start
lasts a whole day. Occurrences are half-open ``[start, end)`` and are dated by the day
they start. Local bounds resolve to UTC with the package DST rule (a nonexistent time
moves to the end of the gap, an ambiguous one means its first occurrence).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.timing.triggers.base import as_utc
from shared.timing.triggers.dst import local_to_utc, wall_time

_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    """A named maintenance window.

    ``days`` are weekdays (Monday=0 .. Sunday=6) on which an occurrence starts;
    ``start_date`` / ``end_date`` (inclusive, optional) bound the dates occurrences start
    on; ``max_concurrent`` caps tasks running in the window at once (``None``: no cap).
    """

    name: str
    days: frozenset[int]
    hours: tuple[time, time]
    timezone: ZoneInfo
    start_date: date | None = None
    end_date: date | None = None
    max_concurrent: int | None = None

    def __post_init__(self) -> None:
        if not self.days <= frozenset(range(7)):
            raise ValueError(
                f"window days must be 0 (Monday) .. 6 (Sunday), got {sorted(self.days)}"
            )
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {self.max_concurrent}")
        if self.start_date and self.end_date and self.start_date > self.end_date:
            raise ValueError(f"window starts {self.start_date} after it ends {self.end_date}")

    def occurrence(self, day: date) -> tuple[datetime, datetime] | None:
        """The UTC ``(start, end)`` of the occurrence starting on local ``day``, if any."""
        if day.weekday() not in self.days or not self._in_dates(day):
            return None
        start_wall = datetime.combine(day, self.hours[0])
        end_wall = datetime.combine(day, self.hours[1])
        if end_wall <= start_wall:
            end_wall += _DAY
        return local_to_utc(start_wall, self.timezone), local_to_utc(end_wall, self.timezone)

    def contains(self, t: datetime) -> bool:
        """Whether aware instant ``t`` lies inside an occurrence (``start <= t < end``)."""
        return self.current_end(t) is not None

    def closed_reason(self, t: datetime) -> str | None:
        """The window rule, in words: None when a run may start at ``t`` (inside the
        window), else why not and when it opens next. The scheduler's plan and its
        trigger intake both use this, so a slot and a request are refused alike."""
        if self.contains(t):
            return None
        opens = self.next_start(t)
        when = f"; it opens next at {opens.isoformat()}" if opens else ""
        return f"outside window {self.name!r}{when}"

    def current_end(self, t: datetime) -> datetime | None:
        """The end of the occurrence containing ``t`` (a run's deadline), else ``None``."""
        t = as_utc(t)
        today = wall_time(t, self.timezone).date()
        for day in (today - _DAY, today):
            bounds = self.occurrence(day)
            if bounds is not None and bounds[0] <= t < bounds[1]:
                return bounds[1]
        return None

    def next_start(self, after: datetime) -> datetime | None:
        """The first occurrence start strictly after ``after``; ``None`` if none remain."""
        after = as_utc(after)
        day = wall_time(after, self.timezone).date() - _DAY
        if self.start_date is not None:
            day = max(day, self.start_date)
        # Every weekday recurs within a week, so nine days always reach a chosen one.
        for _ in range(9):
            if self.end_date is not None and day > self.end_date:
                return None
            bounds = self.occurrence(day)
            if bounds is not None and bounds[0] > after:
                return bounds[0]
            day += _DAY
        return None

    def _in_dates(self, day: date) -> bool:
        if self.start_date is not None and day < self.start_date:
            return False
        return self.end_date is None or day <= self.end_date
