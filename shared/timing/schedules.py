"""A task's compiled schedule and its slots (pure): next slot, fire time, jitter.

Slots are epoch milliseconds; the next slot is always computed from the previous slot,
never from "now", so every replica and every preview agree on the same occurrences.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Literal

from shared.timing.triggers import Trigger
from shared.timing.triggers.combine import UnionTrigger
from shared.timing.triggers.interval import IntervalTrigger
from shared.timing.windows import Window

_TICK = datetime.fromtimestamp(0.001, UTC) - datetime.fromtimestamp(0, UTC)
EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)
"""The first instant schedule maths accepts (slots are non-negative epoch ms)."""
LATEST: Final = datetime(9000, 1, 1, tzinfo=UTC)
"""The last instant schedule maths accepts or returns: far enough from ``datetime.max``
that no trigger's search (croniter's scan for a 29 February, a month's last Friday)
can step past year 9999 and overflow."""
_EARLIEST_MS: Final = 0
_LATEST_MS: Final = round(LATEST.timestamp() * 1000)


class InstantOutOfRange(ValueError):
    """An instant given to the schedule maths lies outside ``EARLIEST``..``LATEST``."""

    def __init__(self, after_ms: float) -> None:
        super().__init__(
            f"{_describe_ms(after_ms)} is outside the supported range "
            f"{EARLIEST.date().isoformat()} to {LATEST.date().isoformat()}"
        )


def _describe_ms(ms: float) -> str:
    try:
        return iso(ms)
    except (OverflowError, ValueError, OSError):
        return f"epoch {ms / 1000:g} s"


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    """What planning needs to know about one task's schedule."""

    task: str
    trigger: Trigger
    grace_s: float
    catch_up: Literal["coalesce", "all", "skip"] = "coalesce"
    jitter_s: float = 0.0
    cooldown_s: float = 0.0
    window: Window | None = None
    start: datetime | None = None
    end: datetime | None = None
    _next_ms: Callable[[float], int] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fast = _ms_stepper(self.trigger) if self.start is None and self.end is None else None
        object.__setattr__(self, "_next_ms", fast)


def _ms_stepper(trigger: Trigger) -> Callable[[float], int] | None:
    """An O(1) next-slot function on epoch ms for interval triggers (and unions of them);
    None for kinds that need calendar arithmetic."""
    if isinstance(trigger, IntervalTrigger):
        return trigger.next_after_ms
    members = trigger.triggers if isinstance(trigger, UnionTrigger) else ()
    steppers = [m.next_after_ms for m in members if isinstance(m, IntervalTrigger)]
    if not members or len(steppers) != len(members):
        return None
    if len(steppers) == 1:
        return steppers[0]
    return lambda after_ms: min(step(after_ms) for step in steppers)


def iso(ms: int | float) -> str:
    """A slot in ISO 8601 UTC with milliseconds (for reasons people read)."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def jitter_offset_s(task: str, slot_ms: int, jitter_s: float) -> float:
    """A deterministic delay in ``[0, jitter_s]`` for one slot (every replica agrees)."""
    span_ms = int(jitter_s * 1000)
    if span_ms <= 0:
        return 0.0
    return (zlib.crc32(f"{task}:{slot_ms}".encode()) % (span_ms + 1)) / 1000


def fire_time(s: Schedule, slot_ms: int) -> float:
    """When ``slot_ms`` fires: the slot plus its jitter, epoch seconds."""
    return slot_ms / 1000 + jitter_offset_s(s.task, slot_ms, s.jitter_s)


def next_slot(s: Schedule, after_ms: float) -> int | None:
    """The first slot strictly after ``after_ms`` within start/end, or None.

    Raises :class:`InstantOutOfRange` for an ``after_ms`` outside the supported range; a
    schedule whose next fire would lie past ``LATEST`` has ended (None).
    """
    if not _EARLIEST_MS <= after_ms <= _LATEST_MS:
        raise InstantOutOfRange(after_ms)
    nxt = _next_ms(s, after_ms)
    return nxt if nxt is not None and nxt <= _LATEST_MS else None


def _next_ms(s: Schedule, after_ms: float) -> int | None:
    if s._next_ms is not None:
        return s._next_ms(after_ms)
    after = datetime.fromtimestamp(after_ms / 1000, UTC)
    if s.start is not None and after < s.start:
        after = s.start - _TICK
    nxt = s.trigger.next_fire_after(after)
    if nxt is None or (s.end is not None and nxt > s.end):
        return None
    return _ms(nxt)


def _ms(t: datetime) -> int:
    return round(t.timestamp() * 1000)
