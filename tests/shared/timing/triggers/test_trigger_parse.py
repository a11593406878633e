"""Config shapes → triggers, and table-driven errors naming the field at fault."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shared.timing.calendar_spec import parse_calendar
from shared.timing.calendars import Calendar
from shared.timing.trigger_spec import parse_schedule, parse_trigger
from shared.timing.triggers import (
    CalendarFilter,
    CronTrigger,
    DailyTrigger,
    HourlyTrigger,
    IntervalTrigger,
    MonthlyTrigger,
    OnceTrigger,
    SessionOffsetTrigger,
    TriggerSpecError,
    UnionTrigger,
    WeeklyTrigger,
)
from shared.timing.window_spec import parse_window

NY = ZoneInfo("America/New_York")
NYSE = Calendar(
    name="nyse", timezone=NY, sessions={d: ((time(9, 30), time(16)),) for d in range(5)}
)
CALENDARS = {"nyse": NYSE}


def parse(spec: dict[str, Any]) -> Any:
    return parse_trigger(spec, default_tz="America/New_York", calendars=CALENDARS)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"cron": "0 2 * * *"}, CronTrigger(expr="0 2 * * *", timezone=NY)),
        (
            {"cron": "0 2 * * *", "gap": "skip", "fold": "both"},
            CronTrigger(expr="0 2 * * *", timezone=NY, gap="skip", fold="both"),
        ),
        ({"every": "5m"}, IntervalTrigger(every_s=300, timezone=NY)),
        (
            {"every": "1h30m", "anchor": "2026-01-01T00:10:00"},
            IntervalTrigger(
                every_s=5400, anchor=datetime(2026, 1, 1, 5, 10, tzinfo=UTC), timezone=NY
            ),
        ),
        ({"hourly": ":15"}, HourlyTrigger(minute=15, timezone=NY)),
        ({"hourly": True, "at": ":15:30"}, HourlyTrigger(minute=15, second=30, timezone=NY)),
        ({"daily": "02:00"}, DailyTrigger(at=time(2), timezone=NY)),
        (
            {"at": "02:00", "timezone": "Europe/Berlin"},
            DailyTrigger(at=time(2), timezone=ZoneInfo("Europe/Berlin")),
        ),
        ({"at": time(2, 0)}, DailyTrigger(at=time(2), timezone=NY)),
        (
            {"weekly": ["sun"], "at": "01:30"},
            WeeklyTrigger(days=frozenset({6}), at=time(1, 30), timezone=NY),
        ),
        (
            {"weekly": "mon-fri", "at": "18:00"},
            WeeklyTrigger(days=frozenset(range(5)), at=time(18), timezone=NY),
        ),
        ({"monthly": 1, "at": "03:00"}, MonthlyTrigger(day=1, at=time(3), timezone=NY)),
        ({"monthly": "last", "at": "03:00"}, MonthlyTrigger(day="last", at=time(3), timezone=NY)),
        (
            {"once": "2026-12-01T10:00:00"},
            OnceTrigger(at=datetime(2026, 12, 1, 15, tzinfo=UTC), timezone=NY),
        ),
        (
            {"once": datetime(2026, 12, 1, 10)},
            OnceTrigger(at=datetime(2026, 12, 1, 15, tzinfo=UTC), timezone=NY),
        ),
        (
            {"before_open": "15m", "calendar": "nyse"},
            SessionOffsetTrigger(calendar=NYSE, anchor="open", offset_s=-900),
        ),
        (
            {"after_close": "10m", "calendar": "nyse"},
            SessionOffsetTrigger(calendar=NYSE, anchor="close", offset_s=600),
        ),
        (
            {"every": "5m", "during": "nyse"},
            CalendarFilter(trigger=IntervalTrigger(every_s=300, timezone=NY), calendar=NYSE),
        ),
        (
            {"every": "1h", "outside": "nyse"},
            CalendarFilter(
                trigger=IntervalTrigger(every_s=3600, timezone=NY), calendar=NYSE, mode="outside"
            ),
        ),
    ],
)
def test_shapes(spec: dict[str, Any], expected: object) -> None:
    assert parse(spec) == expected


def test_list_becomes_union_and_errors_name_the_item() -> None:
    union = parse_schedule([{"every": "5m"}, {"cron": "0 * * * *"}], default_tz="UTC", calendars={})
    assert isinstance(union, UnionTrigger) and len(union.triggers) == 2
    with pytest.raises(TriggerSpecError) as info:
        parse_schedule([{"every": "5m"}, {"cron": "0 25 * * *"}], default_tz="UTC", calendars={})
    assert info.value.field == "[1].cron"


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ({"cron": "0 25 * * *"}, "cron", "'0 25 * * *' is not a valid cron expression (hour 25)"),
        ({"cron": "60 * * * *"}, "cron", "'60 * * * *' is not a valid cron expression (minute 60)"),
        ({"cron": "0 0 32 * *"}, "cron", "(day-of-month 32)"),
        ({"cron": "0 0 * 13 *"}, "cron", "(month 13)"),
        ({"cron": "0 0 * * 9"}, "cron", "(day-of-week 9)"),
        ({"cron": "0 0 * * * 61"}, "cron", "(second 61)"),
        ({"cron": "0 0 * *"}, "cron", "(expected 5 or 6 fields, got 4)"),
        ({"cron": "0 0 * * blursday"}, "cron", "(day-of-week 'blursday')"),
        ({"cron": "0 0 30 2 *"}, "cron", "(it matches no date)"),
        ({"cron": 5}, "cron", "expected text"),
        ({"every": "5 parsecs"}, "every", "'5 parsecs' is not a duration"),
        ({"every": "0s"}, "every", "interval must be positive"),
        ({"every": "5m", "anchor": "yesterday"}, "anchor", "expected a date-time"),
        ({"hourly": ":75"}, "hourly", "not a time within the hour"),
        ({"hourly": True}, "at", "'at' is required here"),
        ({"hourly": ":15", "at": ":20"}, "at", "give the minute once"),
        ({"daily": "25:00"}, "daily", "'25:00' is not a time of day"),
        ({"daily": 750}, "daily", "quote times"),
        ({"daily": "02:00", "at": "03:00"}, "at", "give the time once"),
        ({"weekly": ["sun", "funday"], "at": "01:30"}, "weekly", "unknown weekday 'funday'"),
        ({"weekly": ["sun"]}, "at", "'at' is required here"),
        ({"monthly": 32, "at": "03:00"}, "monthly", "1..31 or 'last'"),
        ({"once": "soon"}, "once", "expected a date-time"),
        (
            {"cron": "0 2 * * *", "timezone": "Mars/Base"},
            "timezone",
            "unknown timezone 'Mars/Base'",
        ),
        ({"cron": "0 2 * * *", "gap": "later"}, "gap", "must be one of shift, skip"),
        ({"cron": "0 2 * * *", "fold": "twice"}, "fold", "must be one of first, last, both"),
        ({"cron": "0 2 * * *", "during": "lse"}, "during", "unknown calendar 'lse' (known: nyse)"),
        ({"cron": "0 2 * * *", "during": "nyse", "outside": "nyse"}, "outside", "not both"),
        ({"cron": "0 2 * * *", "every": "5m"}, "every", "conflicts with 'cron'"),
        (
            {"cron": "0 2 * * *", "jitter": "5s"},
            "jitter",
            "unknown key 'jitter' for a cron schedule",
        ),
        ({"every": "5m", "gap": "skip"}, "gap", "unknown key 'gap' for a every schedule"),
        ({"before_open": "15m"}, "calendar", "needs 'calendar: <name>'"),
        ({"timezone": "UTC"}, "schedule", "no schedule kind"),
    ],
)
def test_errors_name_field_and_problem(spec: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(TriggerSpecError) as info:
        parse(spec)
    assert info.value.field == field
    assert message in info.value.message


def test_bad_default_timezone() -> None:
    with pytest.raises(TriggerSpecError, match="unknown timezone 'Mars/Base'"):
        parse_trigger({"cron": "0 2 * * *"}, default_tz="Mars/Base", calendars={})


def test_parse_calendar_accepts_yaml_dates_and_strings() -> None:
    calendar = parse_calendar(
        "nyse",
        {
            "timezone": "America/New_York",
            "sessions": {"mon-fri": "09:30-16:00", "sat": ["10:00-12:00", "13:00-14:00"]},
            "holidays": [date(2026, 11, 26), "2026-12-25"],
            "early_close": {date(2026, 11, 27): "13:00"},
        },
    )
    assert calendar.holidays == {date(2026, 11, 26), date(2026, 12, 25)}
    assert calendar.early_closes == {date(2026, 11, 27): time(13)}
    assert calendar.sessions[0] == ((time(9, 30), time(16)),)
    assert calendar.sessions[5] == ((time(10), time(12)), (time(13), time(14)))
    assert 6 not in calendar.sessions


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ({"sessions": {"mon-fri": "09:30-16:00"}}, "timezone", "required"),
        ({"timezone": "America/New_York"}, "sessions", "required"),
        (
            {"timezone": "America/New_York", "sessions": {"mon-fry": "09:30-16:00"}},
            "sessions",
            "unknown weekday 'fry'",
        ),
        ({"timezone": "America/New_York", "sessions": {"mon": "09:30"}}, "sessions", "time range"),
        (
            {"timezone": "UTC", "sessions": {"mon": "09:30-16:00"}, "holidays": ["26/11/2026"]},
            "holidays",
            "expected a date",
        ),
        (
            {
                "timezone": "UTC",
                "sessions": {"mon": "09:30-16:00"},
                "early_close": {"2026-11-27": "1pm"},
            },
            "early_close",
            "time like",
        ),
        (
            {"timezone": "UTC", "sessions": {"mon": "09:30-16:00"}, "hours": "x"},
            "hours",
            "unknown key",
        ),
        ({"exchange": "XNYS", "timezone": "UTC"}, "timezone", "comes from the exchange"),
        ({"exchange": "NOPE"}, "exchange", "unknown exchange 'NOPE'"),
    ],
)
def test_calendar_errors(spec: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(TriggerSpecError) as info:
        parse_calendar("cal", spec)
    assert (info.value.field, message in info.value.message) == (field, True), info.value


def test_parse_window_shapes_and_errors() -> None:
    window = parse_window(
        "nightly",
        {
            "days": ["mon", "tue"],
            "hours": "22:00-02:00",
            "max_concurrent": 2,
            "start": date(2026, 1, 1),
            "timezone": "Europe/Berlin",
        },
    )
    assert (
        window.days == {0, 1} and window.hours == (time(22), time(2)) and window.max_concurrent == 2
    )
    assert window.start_date == date(2026, 1, 1) and window.end_date is None
    assert parse_window("all", {"hours": "01:00-05:00"}, default_tz="America/New_York").days == set(
        range(7)
    )
    for spec, field in [
        ({"hours": "01:00"}, "hours"),
        ({"hours": "01:00-05:00", "max_concurrent": 0}, "max_concurrent"),
        ({"hours": "01:00-05:00", "days": ["someday"]}, "days"),
        ({"hours": "01:00-05:00", "start": "2026-02-01", "end": "2026-01-01"}, "hours"),
        ({"hours": "01:00-05:00", "every": "5m"}, "every"),
        ({}, "hours"),
    ]:
        with pytest.raises(TriggerSpecError) as info:
            parse_window("w", spec)
        assert info.value.field == field, (spec, info.value)
