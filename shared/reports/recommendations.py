"""Recommendations in words, derived from a report's numbers (pure).

Each rule reads the task rows or the health trends and yields a sentence an operator can act
on; the thresholds are the reporter's health rules (DESIGN §5). Order: failures, missed
slots, slowdowns, dead letters, then resources.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from shared.reports.schema import Health, TaskRow

SLOWER_PCT: Final = 25.0
"""A task this much slower (mean duration) than the previous period is worth a look."""
ON_TIME_MIN: Final = 0.9
RESOURCE_LIMITS: Final = {"cpu_percent": ("CPU", 80.0), "memory_percent": ("memory", 85.0),
                          "disk_percent": ("disk", 90.0)}  # fmt: skip
HEALTH_MIN: Final = 50.0
ALL_CLEAR: Final = "No action needed: every task succeeded and ran on time."


def _num(x: float) -> str:
    return f"{x:.0f}" if x == round(x) else f"{x:.1f}"


def _task_sentences(t: TaskRow, previous: str) -> Iterator[str]:
    if t.failed:
        error = f" — last error: {t.last_error}" if t.last_error else ""
        yield f"{t.task} failed {t.failed} of {t.runs} {'run' if t.runs == 1 else 'runs'}{error}"
    if t.slots_expected and t.runs == 0:
        yield f"{t.task} did not run although {t.slots_expected} scheduled slots were due"
    elif t.slots_expected and t.on_time_rate is not None and t.on_time_rate < ON_TIME_MIN:
        yield (f"{t.task} ran {t.slots_run} of {t.slots_expected} scheduled slots "
               f"({_num(100 * t.on_time_rate)} %): check its window, pauses and executor "
               "capacity")  # fmt: skip
    if t.duration_change_pct is not None and t.duration_change_pct >= SLOWER_PCT:
        yield (f"{t.task} took {_num(t.duration_change_pct)} % longer than {previous} "
               f"(mean {_num(t.duration_mean_s or 0)} s against "
               f"{_num(t.previous.duration_mean_s or 0)} s)")  # fmt: skip
    if t.dead_lettered:
        runs = "run was" if t.dead_lettered == 1 else "runs were"
        yield f"{t.task}: {t.dead_lettered} {runs} dead-lettered; inspect the dead-letter stream"


def _health_sentences(health: Health) -> Iterator[str]:
    score = health.current.get("health_score")
    if score is not None and score.min < HEALTH_MIN:
        yield f"health score fell to {_num(score.min)} (average {_num(score.mean)})"
    for gauge, (name, limit) in RESOURCE_LIMITS.items():
        g = health.current.get(gauge)
        if g is not None and g.max > limit:
            yield f"{name} peaked at {_num(g.max)} % (limit {_num(limit)} %)"


def recommend(tasks: list[TaskRow], health: Health, kind: str) -> list[str]:
    """Sentences for ``tasks`` (sorted by name) and ``health``; one all-clear line when
    nothing stands out."""
    previous = "yesterday" if kind == "daily" else "last week"
    found = [s for t in tasks for s in _task_sentences(t, previous)]
    found += _health_sentences(health)
    return found or [ALL_CLEAR]
