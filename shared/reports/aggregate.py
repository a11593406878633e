"""Adding up daily aggregates (pure): days of one task, or one day of many tasks, are
combined into one :class:`~shared.contract.readmodel.DailyMetrics` of the same shape."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from shared.contract.readmodel import FAILURE_STATUSES, DailyMetrics, GaugeDay
from shared.reports.percentiles import merge, quantile


def _gauges(days: list[DailyMetrics]) -> dict[str, GaugeDay]:
    found: dict[str, GaugeDay] = {}
    for day in days:
        for name, g in day.gauges.items():
            seen = found.get(name)
            found[name] = g if seen is None else GaugeDay(
                min(seen.min, g.min), max(seen.max, g.max), seen.sum + g.sum, seen.n + g.n
            )  # fmt: skip
    return found


def _sum(maps: Iterable[Mapping[str, float]]) -> dict[str, float]:
    total: Counter[str] = Counter()
    for m in maps:
        total.update(m)
    return dict(total)


def combine(days: Iterable[DailyMetrics]) -> DailyMetrics:
    """One aggregate for several (the last non-empty ``last_error`` in order wins)."""
    days = list(days)
    errors = [d.last_error for d in days if d.last_error]
    return DailyMetrics(
        runs=sum(d.runs for d in days),
        duration_sum=sum(d.duration_sum for d in days),
        duration_max=max((d.duration_max for d in days), default=0.0),
        slots_run=sum(d.slots_run for d in days),
        last_error=errors[-1] if errors else "",
        statuses={k: int(v) for k, v in _sum(d.statuses for d in days).items()},
        buckets=merge(d.buckets for d in days),
        totals=_sum(d.totals for d in days),
        gauges=_gauges(days),
    )


def failed(m: DailyMetrics) -> int:
    """Failures: failed, timed out, rolled back."""
    return sum(m.statuses.get(s, 0) for s in FAILURE_STATUSES)


def success_rate(m: DailyMetrics) -> float | None:
    """Succeeded over the runs that were attempted (skipped and cancelled ones aside)."""
    attempted = m.runs - m.statuses.get("skipped", 0) - m.statuses.get("cancelled", 0)
    return m.statuses.get("succeeded", 0) / attempted if attempted > 0 else None


def mean_duration(m: DailyMetrics) -> float | None:
    """Average duration of the counted results."""
    return m.duration_sum / m.runs if m.runs else None


def p(q: float, m: DailyMetrics) -> float | None:
    """The ``q`` duration quantile from the histogram."""
    return quantile(q, m.buckets, m.duration_max)
