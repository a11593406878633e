"""The pure report maths: percentiles from buckets, periods and due times, recommendations,
and the alert section when there is no alert data."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from shared.config.models import ReportsSettings
from shared.contract.readmodel import DailyMetrics
from shared.reports.model import ReportInputs, build
from shared.reports.percentiles import quantile
from shared.reports.periods import ReportPeriods, latest_due, next_due, report_day
from shared.reports.recommendations import ALL_CLEAR


@pytest.mark.parametrize(
    ("q", "buckets", "maximum", "expected"),
    [
        (0.5, {}, 0.0, None),
        (0.5, {"le_1": 10}, 1.0, 0.75),  # rank 5 of 10 in (0.5, 1]
        (0.5, {"le_0.1": 4, "le_0.5": 4}, 0.5, 0.1),  # the rank ends the first bucket
        (0.95, {"le_5": 19, "le_60": 1}, 42.0, 5.0),  # rank 19: top of the (1, 5] bucket
        (0.99, {"le_5": 19, "le_60": 1}, 42.0, 15 + (42 - 15) * 0.8),  # (15, max]
        (0.5, {"le_inf": 2}, 7200.0, 5400.0),  # open bucket: (3600, max]
    ],
)
def test_quantile_interpolates_inside_the_bucket(
    q: float, buckets: dict[str, int], maximum: float, expected: float | None
) -> None:
    got = quantile(q, buckets, maximum)
    assert got == (None if expected is None else pytest.approx(expected))


def test_periods_of_daily_and_weekly_reports() -> None:
    daily = ReportPeriods.of("daily", date(2026, 3, 10))
    assert daily.current.keys() == ("20260310",) and daily.previous.keys() == ("20260309",)
    weekly = ReportPeriods.of("weekly", date(2026, 3, 15))
    assert weekly.current.keys()[0] == "20260308" and weekly.current.keys()[-1] == "20260314"
    assert weekly.previous.keys()[0] == "20260301" and len(weekly.chart.days) == 28


def test_due_times_in_the_configured_zone_across_dst() -> None:
    settings, tz = ReportsSettings(), "America/New_York"
    before = datetime(2026, 3, 8, 21, 59, tzinfo=UTC)  # 17:59 EDT on the day DST starts
    assert latest_due("daily", settings, tz, before)[0] == date(2026, 3, 7)
    assert next_due("daily", settings, tz, before) == datetime(2026, 3, 8, 22, 0, tzinfo=UTC)
    day, at = latest_due("weekly", settings, tz, before)
    assert day == date(2026, 3, 8) and at == datetime(2026, 3, 8, 10, 0, tzinfo=UTC)  # 06:00 EDT
    assert next_due("weekly", settings, tz, at) == datetime(2026, 3, 15, 10, 0, tzinfo=UTC)
    wednesday = datetime(2026, 3, 11, 3, 0, tzinfo=UTC)  # still Tuesday evening in New York
    assert report_day("daily", settings, tz, wednesday) == date(2026, 3, 10)
    assert report_day("weekly", settings, tz, wednesday) == date(2026, 3, 8)


def test_a_quiet_day_gets_the_all_clear_and_no_alert_data() -> None:
    ok = DailyMetrics(runs=2, statuses={"succeeded": 2}, duration_sum=2.0, duration_max=1.0,
                      buckets={"le_1": 2}, slots_run=2)  # fmt: skip
    periods = ReportPeriods.of("daily", date(2026, 3, 10))
    report = build(ReportInputs(periods, datetime(2026, 3, 10, 22, tzinfo=UTC), "UTC",
                                {"t": {"20260310": ok}}, {"t": (2, 2)}, alerts=None))  # fmt: skip
    assert report.recommendations == [ALL_CLEAR]
    assert report.alerts.available is False
    assert report.tasks[0].on_time_rate == 1.0 and report.summary.success_rate == 1.0
    assert report.tasks[0].previous.runs == 0 and report.tasks[0].duration_change_pct is None


@pytest.mark.parametrize("at", ["25:00", "6", "06:7", "noon"])
def test_a_report_time_must_be_hh_mm(at: str) -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        ReportsSettings.model_validate({"daily": {"at": at}})
