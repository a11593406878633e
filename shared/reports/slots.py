"""How many schedule slots were due in a period (pure): the denominator of the on-time
rate. Slots outside a task's maintenance window do not count: the scheduler skips them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final

from shared.config.catalog import Catalog
from shared.config.models import TaskConfig
from shared.reports.periods import Period, ReportPeriods
from shared.timing.schedules import Schedule, next_slot

SLOT_CAP: Final = 100_000
"""At most this many slots are counted per task and period (an every-second schedule
for a week would otherwise cost a long walk)."""


def count_slots(s: Schedule, start: datetime, end: datetime) -> int:
    """Slots of ``s`` in ``[start, end)`` that its window (if any) admits."""
    n, end_ms = 0, end.timestamp() * 1000
    slot = next_slot(s, start.timestamp() * 1000 - 1)
    for _ in range(SLOT_CAP):
        if slot is None or slot >= end_ms:
            break
        at = datetime.fromtimestamp(slot / 1000, UTC)
        n += s.window is None or s.window.contains(at)
        slot = next_slot(s, slot)
    return n


def _in(s: Schedule, period: Period, until: datetime) -> int:
    return count_slots(s, period.start, min(period.end, until))


def expected_slots(
    catalog: Catalog, tasks: Mapping[str, TaskConfig], periods: ReportPeriods, until: datetime
) -> dict[str, tuple[int | None, int | None]]:
    """Task → slots due in the (current, previous) period up to ``until``; (None, None) for
    a task without an enabled schedule or whose schedule does not parse."""
    found: dict[str, tuple[int | None, int | None]] = {}
    for name, task in tasks.items():
        try:
            s = catalog.schedule(name, task)
        except (ValueError, KeyError):  # a bad spec (or calendar name) has no slots to count
            s = None
        found[name] = (None, None) if s is None else (
            _in(s, periods.current, until), _in(s, periods.previous, until))  # fmt: skip
    return found
