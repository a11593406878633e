"""A trigger that fires exactly once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from shared.timing.triggers.base import UTC_ZONE, as_utc


@dataclass(frozen=True, slots=True, kw_only=True)
class OnceTrigger:
    """Fires once at the aware instant ``at``; exhausted (``None``) after it.

    ``timezone`` is the zone the instant was written in, kept for display.
    """

    at: datetime
    timezone: ZoneInfo = UTC_ZONE

    def __post_init__(self) -> None:
        as_utc(self.at)

    def next_fire_after(self, after: datetime) -> datetime | None:
        """``at`` (in UTC) if it is strictly after ``after``, else ``None``."""
        at = self.at.astimezone(UTC)
        return at if at > as_utc(after) else None
