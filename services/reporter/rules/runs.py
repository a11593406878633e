"""Rules over a task's recent runs: failure rate, consecutive failures, duration
regression and dead-lettered runs (pure).

Defaults (``TaskConfig.alerts``, overridable per task): more than 50 % of the last 20
runs failed once at least 10 are known (warning); 3 failures in a row (warning, critical
at twice that); a succeeded run 50 % slower than the trailing 7 days' mean of at least 3
runs (warning); the latest run dead-lettered (critical, resolved by the next success).
"""

from __future__ import annotations

from typing import Final

from services.reporter.rules.base import (
    COUNTED_STATUSES,
    FAILED_STATUSES,
    Finding,
    TaskView,
    Verdict,
)

MIN_BASELINE_RUNS: Final = 3
DEAD_LETTER_KEY: Final = "executor.dead_lettered"
"""Key prefix the executor's own dead-letter alert uses too: the store merges both."""


def failure_rate(view: TaskView) -> list[Verdict]:
    """Share of failed runs among the latest ``window_runs`` (skips not counted)."""
    key = f"task.failure_rate:{view.task}"
    counted = [s for s in view.recent[: view.policy.window_runs] if s in COUNTED_STATUSES]
    if len(counted) < view.policy.min_runs:
        return [(key, None)]
    failed = sum(s in FAILED_STATUSES for s in counted)
    rate = failed / len(counted)
    if rate <= view.policy.failure_rate:
        return [(key, None)]
    return [(key, Finding(
        key=key, severity="warning",
        title=f"{view.task}: {rate:.0%} of the last {len(counted)} runs failed",
        message=f"{failed} of {len(counted)} runs failed "
                f"(threshold {view.policy.failure_rate:.0%})",
        labels=view.labels("failure_rate"),
        details={"failure_rate": round(rate, 4), "runs": len(counted), "failed": failed},
    ))]  # fmt: skip


def consecutive_failures(view: TaskView) -> list[Verdict]:
    """Failures in a row (the reporter's tally; a success resets it)."""
    key = f"task.consecutive_failures:{view.task}"
    n, limit = view.state.consecutive_failures, view.policy.consecutive_failures
    if n < limit:
        return [(key, None)]
    error = view.state.last_error or ""
    return [(key, Finding(
        key=key, severity="critical" if n >= 2 * limit else "warning",
        title=f"{view.task} failed {n} times in a row",
        message=f"last error: {error}" if error else f"last status: {view.state.last_status}",
        labels=view.labels("consecutive_failures"),
        details={"consecutive_failures": n, "last_run_id": view.state.last_run_id,
                 "last_error": error},
    ))]  # fmt: skip


def duration_regression(view: TaskView) -> list[Verdict]:
    """The latest succeeded run against the trailing seven days' mean duration."""
    key = f"task.duration_regression:{view.task}"
    last, mean = view.last, view.baseline_mean_s
    if last is None or last.status != "succeeded":
        return []
    if mean is None or mean <= 0 or view.baseline_runs < MIN_BASELINE_RUNS:
        return [(key, None)]
    slower = last.duration_s / mean - 1
    if slower <= view.policy.duration_regression:
        return [(key, None)]
    return [(key, Finding(
        key=key, severity="warning",
        title=f"{view.task} took {slower:.0%} longer than its 7-day mean",
        message=f"{last.duration_s:.1f} s against a mean of {mean:.1f} s "
                f"over {view.baseline_runs} runs",
        labels=view.labels("duration_regression"),
        details={"duration_s": last.duration_s, "baseline_mean_s": round(mean, 3),
                 "baseline_runs": view.baseline_runs, "run_id": last.run_id},
    ))]  # fmt: skip


def dead_lettered(view: TaskView) -> list[Verdict]:
    """The latest run was dead-lettered (it could not be run at all)."""
    key = f"{DEAD_LETTER_KEY}:{view.task}"
    last = view.last
    if last is None or last.status not in ("dead_lettered", "succeeded"):
        return []
    if last.status == "succeeded":
        return [(key, None)]
    return [(key, Finding(
        key=key, severity="critical", title=f"{view.task}: run dead-lettered",
        message=f"run {last.run_id}: {last.message}",
        labels=view.labels("dead_lettered", run_id=last.run_id),
        details={"run_id": last.run_id, "error": last.error or {}},
    ))]  # fmt: skip
