"""Triggers built from other triggers: a union, and a filter by calendar sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from shared.timing.triggers.base import (
    MAX_ITERATIONS,
    SessionCalendar,
    Trigger,
    TriggerIterationError,
    as_utc,
)

_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class UnionTrigger:
    """Fires whenever any member fires; members firing at the same instant fire once.

    Exhausted only when every member is. ``triggers`` must be non-empty.
    """

    triggers: tuple[Trigger, ...]

    def __post_init__(self) -> None:
        if not self.triggers:
            raise ValueError("a union needs at least one trigger")

    def next_fire_after(self, after: datetime) -> datetime | None:
        """The earliest next fire among the members, or ``None`` if all are exhausted."""
        after = as_utc(after)
        fires = [fire for t in self.triggers if (fire := t.next_fire_after(after)) is not None]
        return min(fires, default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class CalendarFilter:
    """Keeps only the fires of ``trigger`` inside (``"during"``) or outside (``"outside"``)
    the sessions of ``calendar``.

    Sessions are half-open ``[open, close)``: a fire exactly at the close counts as
    outside, one exactly at the open as during. Fires that do not qualify are skipped by
    jumping to the next session boundary, so long closures cost a few calls, not one
    per fire.
    """

    trigger: Trigger
    calendar: SessionCalendar
    mode: Literal["during", "outside"] = "during"

    def __post_init__(self) -> None:
        if self.mode not in ("during", "outside"):
            raise ValueError(f"mode must be 'during' or 'outside', got {self.mode!r}")

    def next_fire_after(self, after: datetime) -> datetime | None:
        """The first fire of ``trigger`` after ``after`` that satisfies the filter."""
        fire: datetime | None = as_utc(after)
        for _ in range(MAX_ITERATIONS):
            assert fire is not None
            fire = self.trigger.next_fire_after(fire)
            if fire is None or self.calendar.is_open(fire) == (self.mode == "during"):
                return fire
            fire = self._before_next_boundary(fire)
            if fire is None:
                return None
        raise TriggerIterationError(f"no {self.mode}-session fire within {MAX_ITERATIONS} steps")

    def _before_next_boundary(self, fire: datetime) -> datetime | None:
        """Just before the instant where ``fire``'s open/closed state next flips."""
        if self.mode == "during":
            boundary = self.calendar.next_open(fire)
        else:
            boundary = self.calendar.next_close(fire)
        return None if boundary is None else max(boundary - _TICK, fire)
