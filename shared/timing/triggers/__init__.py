"""Triggers: stateless objects answering "when is the next fire after t?", with DST rules.

Every trigger is a stateless frozen object with ``next_fire_after(after)``; see
:class:`Trigger` for the contract and :mod:`shared.timing.trigger_spec` for the config shapes.
"""

from __future__ import annotations

from datetime import datetime

from shared.timing.triggers.base import (
    MAX_ITERATIONS,
    UTC_ZONE,
    FoldPolicy,
    GapPolicy,
    SessionCalendar,
    Trigger,
    TriggerIterationError,
    TriggerSpecError,
)
from shared.timing.triggers.combine import CalendarFilter, UnionTrigger
from shared.timing.triggers.cron import CronTrigger
from shared.timing.triggers.daily import DailyTrigger
from shared.timing.triggers.dst import local_to_utc, resolve_local
from shared.timing.triggers.hourly import HourlyTrigger
from shared.timing.triggers.interval import IntervalTrigger
from shared.timing.triggers.monthly import MonthlyTrigger
from shared.timing.triggers.once import OnceTrigger
from shared.timing.triggers.session import SessionOffsetTrigger
from shared.timing.triggers.weekly import WeeklyTrigger

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
