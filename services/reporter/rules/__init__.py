"""Alert rules: pure functions over the read model and the schedule.

Each rule returns verdicts for stable dedupe keys (see :mod:`.base`); the reporter's
evaluator (``services/reporter/evaluate.py``) gathers the inputs and applies the
verdicts through the alert store. Defaults are in ``TaskConfig.alerts`` and can be
overridden per task (``alerts: {failure_rate: 0.5, min_runs: 10, …}``):

- failure rate, ``task.failure_rate:<task>``: more than 50 % of the last 20 runs failed,
  at least 10 runs known (warning);
- consecutive failures, ``task.consecutive_failures:<task>``: 3 in a row (warning;
  critical at 6);
- stale, ``task.stale:<task>``: 2 expected slots, or 7 days, without a finished run
  (warning);
- duration regression, ``task.duration_regression:<task>``: 50 % over the 7-day mean
  (warning);
- dead-lettered, ``executor.dead_lettered:<task>``: the latest run (critical);
- resources, ``system.cpu``/``memory``/``disk``: over the health check's thresholds
  (warning, critical halfway to 100 %);
- health score, ``system.health_score``: below 50 (warning), below 30 (critical);
- probes, ``probe.<name>``: a service probe of the health check failed (its severity);
- fleet, ``executor.fleet_empty``: work is due and no executor has a heartbeat (critical).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from services.reporter.rules.base import Finding, TaskView, Verdict
from services.reporter.rules.fleet import fleet_empty
from services.reporter.rules.resources import resources
from services.reporter.rules.runs import (
    consecutive_failures,
    dead_lettered,
    duration_regression,
    failure_rate,
)
from services.reporter.rules.stale import stale

TaskRule = Callable[[TaskView], list[Verdict]]
TASK_RULES: Final[tuple[TaskRule, ...]] = (
    failure_rate,
    consecutive_failures,
    stale,
    duration_regression,
    dead_lettered,
    resources,
)
"""Every per-task rule, in the order they are evaluated."""


def judge(view: TaskView) -> list[Verdict]:
    """Every verdict of every task rule about ``view``; with the task's alerts off, each
    judged key is cleared instead (its open alerts resolve)."""
    verdicts = [verdict for rule in TASK_RULES for verdict in rule(view)]
    return verdicts if view.policy.enabled else [(key, None) for key, _ in verdicts]


__all__ = ["TASK_RULES", "Finding", "TaskView", "Verdict", "fleet_empty", "judge"]
