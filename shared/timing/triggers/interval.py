"""A trigger that fires every fixed amount of elapsed time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from shared.timing.triggers.base import UTC_ZONE, as_utc

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""Default anchor: intervals line up with the clock (every 5m fires at :00, :05, ...)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class IntervalTrigger:
    """Fires at ``anchor + k * every_s`` for every integer ``k`` (before and after anchor).

    The interval is elapsed time, so DST changes do not stretch or shrink it; the
    default anchor (the Unix epoch) aligns intervals that divide a day with the UTC
    clock. ``every_s`` must be positive and is kept to microsecond precision.
    ``timezone`` is only the zone a naive anchor was written in, kept for display.
    """

    every_s: float
    anchor: datetime | None = None
    timezone: ZoneInfo = UTC_ZONE
    _step_us: int = field(init=False, repr=False, compare=False)
    _anchor_us: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        step_us = round(self.every_s * 1_000_000)
        if step_us <= 0:
            raise ValueError(f"interval must be positive, got {self.every_s!r} seconds")
        anchor = EPOCH if self.anchor is None else as_utc(self.anchor)
        object.__setattr__(self, "_step_us", step_us)
        object.__setattr__(self, "_anchor_us", _micros(anchor - EPOCH))

    def next_fire_after(self, after: datetime) -> datetime | None:
        """The first ``anchor + k * every_s`` strictly after ``after``."""
        anchor = EPOCH if self.anchor is None else self.anchor.astimezone(UTC)
        elapsed_us = _micros(as_utc(after) - anchor)
        steps = elapsed_us // self._step_us + 1
        return anchor + timedelta(microseconds=steps * self._step_us)

    def next_after_ms(self, after_ms: float) -> int:
        """:meth:`next_fire_after` on epoch milliseconds, in O(1) integer arithmetic.

        Equals ``round(next_fire_after(<after_ms as a datetime>).timestamp() * 1000)``
        (the same float steps), without building a datetime: the scheduler's hot path.
        """
        after_us = round(after_ms * 1000)
        steps = (after_us - self._anchor_us) // self._step_us + 1
        return round((self._anchor_us + steps * self._step_us) / 1_000_000 * 1000)


def _micros(delta: timedelta) -> int:
    """``delta`` as an exact integer number of microseconds (no float rounding)."""
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
