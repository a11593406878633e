"""Stale schedule, the dead man's switch (pure): expected slots passed, no run finished.

A slot is expected once it lies after the last finished run and its run had time to
finish (slot + the task's timeout + its misfire grace before now). Slots come from the
task's compiled schedule, so a calendar's closed hours, holidays and a window's closed
hours produce none; a paused or disabled task is never stale. Defaults: 2 expected
slots missed, or 7 days with at least one missed (``stale_periods``, ``stale_after``).
A task that never finished a run has nothing to measure from and is not judged.
"""

from __future__ import annotations

from datetime import UTC, datetime

from services.reporter.rules.base import Finding, TaskView, Verdict
from shared.timing.schedules import Schedule, next_slot


def missed_slots(schedule: Schedule, since: float, until: float, enough: int) -> int:
    """Slots in ``(since, until]`` (epoch seconds) that a window lets run, counted up to
    ``enough``."""
    count, slot = 0, next_slot(schedule, since * 1000)
    while slot is not None and slot <= until * 1000 and count < enough:
        at = datetime.fromtimestamp(slot / 1000, UTC)
        if schedule.window is None or schedule.window.contains(at):
            count += 1
        slot = next_slot(schedule, slot)
    return count


def stale(view: TaskView) -> list[Verdict]:
    """No finished run for ``stale_periods`` expected slots, or for ``stale_after`` with
    at least one missed."""
    key = f"task.stale:{view.task}"
    since = view.state.last_run_at
    if view.schedule is None or view.state.paused:
        return [(key, None)]
    if since is None:
        return []
    until = view.now - view.timeout_s - view.schedule.grace_s
    periods = view.policy.stale_periods
    missed = missed_slots(view.schedule, since, until, periods)
    quiet_s = view.now - since
    if missed < periods and not (missed and quiet_s >= view.policy.stale_after):
        return [(key, None)]
    return [(key, Finding(
        key=key, severity="warning",
        title=f"{view.task} is stale: no run finished for {_age(quiet_s)}",
        message=f"{missed}{'+' if missed >= periods else ''} expected run(s) did not finish "
                f"since the last one at {datetime.fromtimestamp(since, UTC).isoformat()}",
        labels=view.labels("stale"),
        details={"last_run_at": since, "missed_slots": missed, "quiet_s": round(quiet_s)},
    ))]  # fmt: skip


def _age(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"
