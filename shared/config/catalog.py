"""Compiling task definitions into schedules (pure): triggers, windows, calendars.

Also the preview that ``watchkeeper preview`` and the API (``/tasks/{task}/next``) share:
the next N fire times of a task or of an ad-hoc spec, with window and calendar rules
applied the way the scheduler applies them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from shared.config.models import Config, TaskConfig
from shared.timing.calendar_spec import parse_calendar
from shared.timing.calendars import Calendar
from shared.timing.schedules import Schedule, fire_time, next_slot
from shared.timing.trigger_spec import parse_schedule
from shared.timing.triggers.base import Trigger
from shared.timing.window_spec import parse_window
from shared.timing.windows import Window

TRIGGERS_KEPT: Final = 65_536
"""Distinct schedule specs a catalog keeps parsed (then it starts afresh)."""


@dataclass(frozen=True, slots=True)
class Catalog:
    """Parsed calendars and windows of one config (the tasks come from Redis)."""

    config: Config
    calendars: Mapping[str, Calendar]
    windows: Mapping[str, Window]
    _triggers: dict[str, Trigger] = field(default_factory=dict, compare=False, repr=False)
    """Parsed triggers by their spec: tasks with the same schedule share one (triggers
    are stateless), which saves a parse and the memory of a copy per task."""

    @classmethod
    def from_config(cls, config: Config) -> Catalog:
        """Parse every calendar and window (the config was validated already)."""
        calendars = {n: parse_calendar(n, spec) for n, spec in config.calendars.items()}
        windows = {
            n: parse_window(n, spec, default_tz=config.timezone)
            for n, spec in config.windows.items()
        }
        return cls(config, calendars, windows)

    def schedule(self, name: str, task: TaskConfig) -> Schedule | None:
        """The schedule of an enabled task with a ``schedule``, else None."""
        if not task.enabled or not task.schedule:
            return None
        trigger = self._trigger(task.schedule)
        grace = task.misfire_grace
        return Schedule(
            task=name, trigger=trigger,
            grace_s=self.config.scheduler.misfire_grace if grace is None else grace,
            catch_up=task.catch_up, jitter_s=task.jitter, cooldown_s=task.cooldown,
            window=self.windows.get(task.window) if task.window else None,
            start=_aware(task.start, self.config.timezone),
            end=_aware(task.end, self.config.timezone),
        )  # fmt: skip

    def _trigger(self, spec: list[dict[str, Any]]) -> Trigger:
        # repr, not a canonical JSON: a tenth of the cost, and equal reprs are equal
        # specs (specs written in another key order merely get triggers of their own).
        key = repr(spec)
        trigger = self._triggers.get(key)
        if trigger is None:
            trigger = parse_schedule(spec, default_tz=self.config.timezone,
                                     calendars=self.calendars)  # fmt: skip
            if len(self._triggers) >= TRIGGERS_KEPT:
                self._triggers.clear()
            self._triggers[key] = trigger
        return trigger


@dataclass(frozen=True, slots=True)
class PreviewFire:
    """One upcoming fire: UTC instant, local instant, and whether its window is open."""

    at: datetime
    local: datetime
    in_window: bool | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the API and ``--json`` print this)."""
        return {
            "utc": self.at.isoformat(),
            "local": self.local.isoformat(),
            "in_window": self.in_window,
        }


def preview_schedule(s: Schedule, after: datetime, count: int, tz: str) -> list[PreviewFire]:
    """The next ``count`` fires of ``s`` after ``after`` (jitter, start/end included)."""
    zone = ZoneInfo(tz)
    fires: list[PreviewFire] = []
    slot = next_slot(s, after.timestamp() * 1000)
    while slot is not None and len(fires) < count:
        at = datetime.fromtimestamp(fire_time(s, slot), UTC)
        inside = s.window.contains(at) if s.window is not None else None
        fires.append(PreviewFire(at, at.astimezone(zone), inside))
        slot = next_slot(s, slot)
    return fires


def preview_task(
    config: Config, name: str, after: datetime, count: int, tz: str | None = None
) -> list[PreviewFire]:
    """Preview a configured task; raises KeyError for an unknown task, ValueError when it
    has no enabled schedule."""
    catalog = Catalog.from_config(config)
    schedule = catalog.schedule(name, config.tasks[name])
    if schedule is None:
        raise ValueError(f"task {name!r} has no enabled schedule")
    return preview_schedule(schedule, after, count, tz or config.timezone)


def preview_spec(
    config: Config, spec: dict[str, Any], after: datetime, count: int, tz: str | None = None
) -> list[PreviewFire]:
    """Preview an ad-hoc schedule spec (``{cron: ...}``, ``{every: 5m, during: nyse}``)."""
    catalog = Catalog.from_config(config)
    trigger = parse_schedule(spec, default_tz=tz or config.timezone, calendars=catalog.calendars)
    schedule = Schedule(task="preview", trigger=trigger, grace_s=0.0)
    return preview_schedule(schedule, after, count, tz or config.timezone)


def _aware(t: datetime | None, tz: str) -> datetime | None:
    """A naive start/end means local time of the config's timezone."""
    if t is None or t.tzinfo is not None:
        return t
    return t.replace(tzinfo=ZoneInfo(tz))
