"""Which days a report covers and when a periodic report is due (pure).

A report is dated by the local date (``Config.timezone``) it is due on. It covers whole UTC
days, the granularity of the daily aggregates: a daily report dated D covers day D (so far,
when made at 18:00); a weekly report dated D covers the seven days before D. Each period is
compared with the one before it; the charts show a longer run of days ending with the period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Literal
from zoneinfo import ZoneInfo

from shared.config.models import ReportsSettings, ReportTime

Kind = Literal["daily", "weekly"]
KINDS: Final[tuple[Kind, ...]] = ("daily", "weekly")
WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_LENGTH: Final[dict[str, int]] = {"daily": 1, "weekly": 7}
_CHART_DAYS: Final[dict[str, int]] = {"daily": 14, "weekly": 28}


@dataclass(frozen=True, slots=True)
class Period:
    """Consecutive UTC days, oldest first."""

    days: tuple[date, ...]

    @property
    def start(self) -> datetime:
        """The first instant (UTC midnight of the first day)."""
        return datetime.combine(self.days[0], time(), UTC)

    @property
    def end(self) -> datetime:
        """The instant after the last day."""
        return datetime.combine(self.days[-1] + timedelta(days=1), time(), UTC)

    def keys(self) -> tuple[str, ...]:
        """The days as aggregate-key dates (``yyyymmdd``)."""
        return tuple(d.strftime("%Y%m%d") for d in self.days)


def _run(last: date, n: int) -> Period:
    return Period(tuple(last - timedelta(days=n - 1 - i) for i in range(n)))


@dataclass(frozen=True, slots=True)
class ReportPeriods:
    """The report's period, the previous one, and the days its charts show."""

    kind: Kind
    day: date
    current: Period
    previous: Period
    chart: Period

    @classmethod
    def of(cls, kind: Kind, day: date) -> ReportPeriods:
        """The periods of the ``kind`` report dated ``day``."""
        n = _LENGTH[kind]
        last = day if kind == "daily" else day - timedelta(days=1)
        return cls(kind, day, _run(last, n), _run(last - timedelta(days=n), n),
                   _run(last, max(_CHART_DAYS[kind], 2 * n)))  # fmt: skip


def _due(when: ReportTime, tz: ZoneInfo, day: date) -> datetime:
    hh, mm = (int(x) for x in when.at.split(":"))
    return datetime.combine(day, time(hh, mm), tz).astimezone(UTC)


def _is_report_day(kind: Kind, when: ReportTime, day: date) -> bool:
    return kind == "daily" or WEEKDAYS[day.weekday()] == (when.day or "sun")


def latest_due(
    kind: Kind, settings: ReportsSettings, tz: str, now: datetime
) -> tuple[date, datetime]:
    """The most recent (local date, UTC instant) a ``kind`` report was due at or before
    ``now``."""
    when, zone = getattr(settings, kind), ZoneInfo(tz)
    today = now.astimezone(zone).date()
    for back in range(9):
        day = today - timedelta(days=back)
        if _is_report_day(kind, when, day) and _due(when, zone, day) <= now:
            return day, _due(when, zone, day)
    raise ValueError(f"no {kind} report due before {now}")  # unreachable for valid settings


def next_due(kind: Kind, settings: ReportsSettings, tz: str, now: datetime) -> datetime:
    """The first instant after ``now`` a ``kind`` report is due."""
    when, zone = getattr(settings, kind), ZoneInfo(tz)
    today = now.astimezone(zone).date()
    for ahead in range(9):
        day = today + timedelta(days=ahead)
        if _is_report_day(kind, when, day) and _due(when, zone, day) > now:
            return _due(when, zone, day)
    raise ValueError(f"no {kind} report due after {now}")  # unreachable for valid settings


def report_day(kind: Kind, settings: ReportsSettings, tz: str, now: datetime) -> date:
    """The date an on-demand report takes by default: today for a daily one (the day so
    far), the latest report day (today included) for a weekly one."""
    when, today = getattr(settings, kind), now.astimezone(ZoneInfo(tz)).date()
    back = next(b for b in range(7) if _is_report_day(kind, when, today - timedelta(days=b)))
    return today - timedelta(days=back)
