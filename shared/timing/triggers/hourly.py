"""A trigger that fires at a fixed minute and second of every local hour."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from shared.timing.triggers.base import UTC_ZONE, FoldPolicy, GapPolicy, check_policies
from shared.timing.triggers.wallclock import next_wall_fire


@dataclass(frozen=True, slots=True, kw_only=True)
class HourlyTrigger:
    """Fires whenever the local clock in ``timezone`` shows ``HH:minute:second``.

    Hourly is a wall-clock trigger whose DST defaults differ from the daily kinds on
    purpose: ``fold="both"`` and ``gap="skip"``, so in zones that shift by a whole hour it
    fires exactly once per elapsed hour (the repeated hour fires again, the skipped hour
    does not fire, and nothing fires twice in a row at the gap end). In a zone with a
    30-minute shift (Australia/Lord_Howe) the same rule gives fires 30 minutes apart in
    the fold and 90 minutes apart across the gap. Both policies can be overridden.
    """

    minute: int = 0
    second: int = 0
    timezone: ZoneInfo = UTC_ZONE
    gap: GapPolicy = "skip"
    fold: FoldPolicy = "both"

    def __post_init__(self) -> None:
        if not 0 <= self.minute <= 59:
            raise ValueError(f"minute must be 0..59, got {self.minute}")
        if not 0 <= self.second <= 59:
            raise ValueError(f"second must be 0..59, got {self.second}")
        check_policies(self.gap, self.fold)

    def next_fire_after(self, after: datetime) -> datetime | None:
        """The first local ``:minute:second`` strictly after ``after`` (aware UTC)."""
        return next_wall_fire(after, self.timezone, self._walls, gap=self.gap, fold=self.fold)

    def _walls(self, start: datetime) -> Iterator[datetime]:
        wall = start.replace(minute=self.minute, second=self.second, microsecond=0)
        if wall < start:
            wall += timedelta(hours=1)
        while True:
            yield wall
            wall += timedelta(hours=1)
