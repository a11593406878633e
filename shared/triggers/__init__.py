"""Pure scheduling core: triggers, DST resolution and spec parsing.

Every trigger is a stateless frozen object with ``next_fire_after(after)``; see
:class:`Trigger` for the contract and :mod:`shared.triggers.parse` for the config shapes.
"""

from __future__ import annotations

from datetime import datetime
from importlib import import_module
from typing import TYPE_CHECKING, Any

from shared.triggers.base import (
    MAX_ITERATIONS,
    UTC_ZONE,
    FoldPolicy,
    GapPolicy,
    SessionCalendar,
    Trigger,
    TriggerIterationError,
    TriggerSpecError,
)
from shared.triggers.combine import CalendarFilter, UnionTrigger
from shared.triggers.cron import CronTrigger
from shared.triggers.daily import DailyTrigger
from shared.triggers.dst import local_to_utc, resolve_local
from shared.triggers.hourly import HourlyTrigger
from shared.triggers.interval import IntervalTrigger
from shared.triggers.monthly import MonthlyTrigger
from shared.triggers.once import OnceTrigger
from shared.triggers.session import SessionOffsetTrigger
from shared.triggers.weekly import WeeklyTrigger

if TYPE_CHECKING:
    from shared.triggers.parse import parse_calendar, parse_schedule, parse_trigger, parse_window

# parse.py builds calendars and windows, and shared.calendars / shared.windows use the
# DST helpers of this package: importing parse lazily keeps that from being a cycle.
_LAZY = frozenset({"parse_calendar", "parse_schedule", "parse_trigger", "parse_window"})

__all__ = [
    "MAX_ITERATIONS",
    "UTC_ZONE",
    "CalendarFilter",
    "CronTrigger",
    "DailyTrigger",
    "FoldPolicy",
    "GapPolicy",
    "HourlyTrigger",
    "IntervalTrigger",
    "MonthlyTrigger",
    "OnceTrigger",
    "SessionCalendar",
    "SessionOffsetTrigger",
    "Trigger",
    "TriggerIterationError",
    "TriggerSpecError",
    "UnionTrigger",
    "WeeklyTrigger",
    "local_to_utc",
    "parse_calendar",
    "parse_schedule",
    "parse_trigger",
    "parse_window",
    "preview",
    "resolve_local",
]


def preview(trigger: Trigger, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` fires of ``trigger`` strictly after ``after`` (fewer if it is
    exhausted first), each strictly later than the one before."""
    fires: list[datetime] = []
    current: datetime | None = after
    while len(fires) < count and current is not None:
        current = trigger.next_fire_after(current)
        if current is not None:
            fires.append(current)
    return fires


def __getattr__(name: str) -> Any:
    """Load the spec parsers on first use (see the import-cycle note above)."""
    if name in _LAZY:
        return getattr(import_module("shared.triggers.parse"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
