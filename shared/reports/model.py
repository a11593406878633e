"""Building a :class:`~.schema.Report` from the daily aggregates (pure: no Redis, no clock).

:class:`ReportInputs` is everything a report needs — the loader (:mod:`.load`) reads it for
tasks × days, whatever the number of results — and :func:`build` turns it into the document.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from shared.contract.readmodel import DailyMetrics, GaugeDay
from shared.reports import aggregate as agg
from shared.reports.periods import Period, ReportPeriods
from shared.reports.recommendations import recommend
from shared.reports.schema import (
    AlertItem,
    Alerts,
    DayPoint,
    Failure,
    Gauge,
    Health,
    PeriodDoc,
    Previous,
    Report,
    Summary,
    TaskRow,
)  # fmt: skip

EMPTY = DailyMetrics()


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """An alert as read from the alert store, normalised (see :mod:`.load`)."""

    key: str
    severity: str
    title: str
    since: float | None = None
    count: int = 1


@dataclass(frozen=True, slots=True)
class AlertData:
    """Active alerts and those resolved in the period."""

    active: tuple[AlertRecord, ...] = ()
    resolved: tuple[AlertRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class ReportInputs:
    """What a report is built from.

    ``metrics`` maps task → ``yyyymmdd`` → that day's aggregate (absent days had no
    result); ``expected`` maps task → schedule slots due in the (current, previous) period,
    None when the task has no schedule; ``alerts`` is None when no alert data exists.
    """

    periods: ReportPeriods
    generated_at: datetime
    timezone: str
    metrics: Mapping[str, Mapping[str, DailyMetrics]]
    expected: Mapping[str, tuple[int | None, int | None]]
    alerts: AlertData | None = None

    def over(self, task: str, period: Period) -> DailyMetrics:
        """One task's aggregate over a period."""
        days = self.metrics.get(task, {})
        return agg.combine(days.get(d, EMPTY) for d in period.keys())

    def day(self, key: str) -> DailyMetrics:
        """All tasks' aggregate of one day."""
        return agg.combine(days.get(key, EMPTY) for days in self.metrics.values())


def _r(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(x, digits)


def _counts(m: DailyMetrics) -> dict[str, int]:
    s = m.statuses
    return {"runs": m.runs, "succeeded": s.get("succeeded", 0), "failed": agg.failed(m),
            "skipped": s.get("skipped", 0), "dead_lettered": s.get("dead_lettered", 0),
            "cancelled": s.get("cancelled", 0)}  # fmt: skip


def _totals(m: DailyMetrics) -> dict[str, float]:
    return {k: m.totals.get(k, 0.0) for k in ("bytes_freed", "files_processed", "items_processed")}


def _period(p: Period) -> PeriodDoc:
    return PeriodDoc(first_day=p.days[0].isoformat(), last_day=p.days[-1].isoformat(),
                     days=len(p.days))  # fmt: skip


def _change_pct(now: float | None, before: float | None) -> float | None:
    return _r(100 * (now - before) / before, 1) if now is not None and before else None


def _on_time(run: int, expected: int | None) -> float | None:
    return _r(min(1.0, run / expected)) if expected else None


def _row(task: str, cur: DailyMetrics, prev: DailyMetrics, expected: int | None) -> TaskRow:
    rate, on_time = agg.success_rate(cur), _on_time(cur.slots_run, expected)
    mean = agg.mean_duration(cur)
    score = None if rate is None else _r(100 * rate * (1.0 if on_time is None else on_time), 1)
    return TaskRow(
        task=task, rank=0, effectiveness=score, **_counts(cur), success_rate=_r(rate),
        duration_p50_s=_r(agg.p(0.5, cur), 3), duration_p95_s=_r(agg.p(0.95, cur), 3),
        duration_mean_s=_r(mean, 3), duration_max_s=_r(cur.duration_max, 3) if cur.runs else None,
        duration_change_pct=_change_pct(mean, agg.mean_duration(prev)),
        slots_expected=expected, slots_run=cur.slots_run, on_time_rate=on_time, **_totals(cur),
        last_error=cur.last_error or None,
        previous=Previous(runs=prev.runs, success_rate=_r(agg.success_rate(prev)),
                          duration_p50_s=_r(agg.p(0.5, prev), 3),
                          duration_p95_s=_r(agg.p(0.95, prev), 3),
                          duration_mean_s=_r(agg.mean_duration(prev), 3)),
    )  # fmt: skip


def _ranked(rows: list[TaskRow]) -> list[TaskRow]:
    """Rows by name, each with its rank by effectiveness (tasks that never ran last)."""
    order = sorted(rows, key=lambda t: (t.effectiveness is None, -(t.effectiveness or 0), t.task))
    rank = {row.task: i for i, row in enumerate(order, 1)}
    return [row.model_copy(update={"rank": rank[row.task]}) for row in rows]


def _summary(rows: list[TaskRow], total: DailyMetrics) -> Summary:
    expected = sum(r.slots_expected or 0 for r in rows)
    on_time = sum(min(r.slots_run, r.slots_expected) for r in rows if r.slots_expected)
    return Summary(**_counts(total), success_rate=_r(agg.success_rate(total)),
                   on_time_rate=_r(on_time / expected) if expected else None,
                   **_totals(total))  # fmt: skip


def _gauge(g: GaugeDay) -> Gauge:
    return Gauge(min=round(g.min, 2), max=round(g.max, 2), mean=round(g.mean, 2), samples=g.n)


def _point(inputs: ReportInputs, day: date, key: str) -> DayPoint:
    m = inputs.day(key)
    health = m.gauges.get("health_score")
    return DayPoint(day=day.isoformat(), runs=m.runs, success_rate=_r(agg.success_rate(m)),
                    duration_mean_s=_r(agg.mean_duration(m), 3),
                    duration_p95_s=_r(agg.p(0.95, m), 3),
                    health_score=round(health.mean, 2) if health else None)  # fmt: skip


def _alerts(data: AlertData | None, tz: str) -> Alerts:
    if data is None:
        return Alerts(available=False, active=[], resolved=[])

    def item(a: AlertRecord) -> AlertItem:
        since = None if a.since is None else _iso(a.since, tz)
        return AlertItem(key=a.key, severity=a.severity, title=a.title, since=since, count=a.count)

    return Alerts(available=True, active=[item(a) for a in data.active],
                  resolved=[item(a) for a in data.resolved])  # fmt: skip


def _iso(t: float, tz: str) -> str:
    return datetime.fromtimestamp(t, ZoneInfo(tz)).isoformat(timespec="seconds")


def build(inputs: ReportInputs) -> Report:
    """The report document of ``inputs``."""
    ps = inputs.periods
    cur = {t: inputs.over(t, ps.current) for t in inputs.metrics}
    rows = _ranked([
        _row(t, cur[t], inputs.over(t, ps.previous), inputs.expected.get(t, (None, None))[0])
        for t in sorted(inputs.metrics)
    ])  # fmt: skip
    total = agg.combine(cur.values())
    prev_total = agg.combine(inputs.over(t, ps.previous) for t in inputs.metrics)
    health = Health(current={k: _gauge(g) for k, g in total.gauges.items()},
                    previous={k: _gauge(g) for k, g in prev_total.gauges.items()})  # fmt: skip
    failures = [Failure(task=r.task, failed=r.failed, dead_lettered=r.dead_lettered,
                        runs=r.runs, last_error=r.last_error)
                for r in rows if r.failed or r.dead_lettered]  # fmt: skip
    return Report(
        kind=ps.kind, date=ps.day.isoformat(), timezone=inputs.timezone,
        generated_at=inputs.generated_at.astimezone(ZoneInfo(inputs.timezone)).isoformat(
            timespec="seconds"),
        period=_period(ps.current), previous_period=_period(ps.previous),
        summary=_summary(rows, total), tasks=rows,
        ranking=[r.task for r in sorted(rows, key=lambda r: r.rank)], failures=failures,
        health=health, trend=[_point(inputs, d, k) for d, k in zip(ps.chart.days, ps.chart.keys(),
                                                                  strict=True)],
        alerts=_alerts(inputs.alerts, inputs.timezone),
        recommendations=recommend(rows, health, ps.kind),
    )  # fmt: skip
