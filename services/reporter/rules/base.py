"""What the alert rules read and return (pure data).

A rule is a plain function of a :class:`TaskView` (or, for fleet-wide rules, of a few
numbers) returning :data:`Verdict`\\ s: for each dedupe key it judged, the
:class:`Finding` when the condition holds, or None when it has cleared. A key a rule did
not judge (it lacked the data) is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.config.models import TaskAlerts
from shared.contract.events import TaskResult
from shared.contract.readmodel import ScheduleState
from shared.timing.schedules import Schedule

FAILED_STATUSES = frozenset({"failed", "timed_out", "rolled_back", "dead_lettered"})
"""Statuses that count as a failed run for the rates."""
COUNTED_STATUSES = FAILED_STATUSES | {"succeeded"}
"""Statuses a rate counts at all (skipped and cancelled runs say nothing about health)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """A condition that holds: what the alert will say."""

    key: str
    severity: str
    title: str
    message: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


Verdict = tuple[str, Finding | None]
"""(dedupe key, the finding, or None: cleared)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskView:
    """Everything the task rules know about one task at ``now`` (epoch seconds).

    ``recent`` holds the statuses of the latest results, newest first; ``last`` the
    latest result; ``baseline_*`` the trailing seven days' run count and mean duration
    (from the daily metrics, today excluded); ``schedule`` the compiled schedule of an
    enabled task (None otherwise); ``timeout_s`` the task's run timeout.
    """

    task: str
    policy: TaskAlerts
    state: ScheduleState
    now: float
    recent: tuple[str, ...] = ()
    last: TaskResult | None = None
    baseline_runs: int = 0
    baseline_mean_s: float | None = None
    schedule: Schedule | None = None
    timeout_s: float = 0.0

    def labels(self, rule: str, **extra: str) -> dict[str, str]:
        """Labels every task alert carries: the task and the rule that raised it."""
        return {"task": self.task, "rule": rule, **extra}
