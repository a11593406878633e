"""A trigger that fires at a fixed offset from each calendar session's open or close."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from shared.timing.triggers.base import SessionCalendar, as_utc


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionOffsetTrigger:
    """Fires at ``offset_s`` seconds from every session ``anchor`` (open or close).

    A negative offset fires before the boundary (``before_open: 15m`` is
    ``anchor="open", offset_s=-900``), a positive one after it (``after_close: 10m`` is
    ``anchor="close", offset_s=600``). Holidays and early closes follow the calendar.
    """

    calendar: SessionCalendar
    anchor: Literal["open", "close"]
    offset_s: float = 0.0

    def __post_init__(self) -> None:
        if self.anchor not in ("open", "close"):
            raise ValueError(f"anchor must be 'open' or 'close', got {self.anchor!r}")

    def next_fire_after(self, after: datetime) -> datetime | None:
        """``boundary + offset`` for the first boundary where that lies after ``after``."""
        offset = timedelta(seconds=self.offset_s)
        shifted = as_utc(after) - offset
        if self.anchor == "open":
            boundary = self.calendar.next_open(shifted)
        else:
            boundary = self.calendar.next_close(shifted)
        return None if boundary is None else boundary + offset
