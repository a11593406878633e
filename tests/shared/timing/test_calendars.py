"""Calendars: sessions, holidays, early closes, offsets, filters and exchange data."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.timing.calendar_spec import parse_calendar
from shared.timing.calendars import Calendar, exchange_calendar
from shared.timing.trigger_spec import parse_schedule, parse_trigger
from shared.timing.triggers import TriggerSpecError, preview

NY = ZoneInfo("America/New_York")
HOLIDAY, EARLY = date(2026, 11, 26), date(2026, 11, 27)
NYSE_SPEC = {
    "timezone": "America/New_York",
    "sessions": {"mon-fri": "09:30-16:00"},
    "holidays": [HOLIDAY, date(2026, 12, 25)],
    "early_close": {EARLY: "13:00"},
}
NYSE = parse_calendar("nyse", NYSE_SPEC)
HEALTH_CHECK = parse_schedule(
    [{"every": "5m", "during": "nyse"}, {"every": "1h", "outside": "nyse"}],
    default_tz="America/New_York",
    calendars={"nyse": NYSE},
)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), NY).astimezone(UTC)


def expected_week() -> list[datetime]:
    """The week of 2026-11-23 written out by hand: 5-minute fires in [open, close),
    hourly fires on the hour outside it."""
    fires = []
    for offset in range(7):
        day = date(2026, 11, 23) + timedelta(days=offset)
        trading = day.weekday() < 5 and day != HOLIDAY
        close = (13, 0) if day == EARLY else (16, 0)
        for minute_of_day in range(0, 24 * 60, 5):
            hour, minute = divmod(minute_of_day, 60)
            in_session = trading and (9, 30) <= (hour, minute) < close
            if in_session or minute == 0:
                fires.append(local(day, hour, minute))
    return fires


def test_week_of_thanksgiving_fires_exactly_as_written_out() -> None:
    start = local(date(2026, 11, 23), 0) - timedelta(microseconds=1)
    end = local(date(2026, 11, 30), 0)
    fires = [f for f in preview(HEALTH_CHECK, start, 2000) if f < end]
    assert fires == expected_week()
    per_day = {
        d: sum(1 for f in fires if f.astimezone(NY).date() == d)
        for d in {f.astimezone(NY).date() for f in fires}
    }
    assert per_day[date(2026, 11, 23)] == 78 + 18  # 09:30..15:55 every 5 min, 18 hourly outside
    assert per_day[HOLIDAY] == 24
    assert per_day[EARLY] == 42 + 21  # 09:30..12:55, then hourly from 13:00
    assert per_day[date(2026, 11, 28)] == 24
    assert local(date(2026, 11, 23), 16) in fires and local(date(2026, 11, 23), 9) in fires
    assert len(fires) == len(set(fires))


def test_half_open_sessions() -> None:
    monday = date(2026, 11, 23)
    assert NYSE.is_open(local(monday, 9, 30))
    assert not NYSE.is_open(local(monday, 16) - timedelta(microseconds=0))
    assert NYSE.is_open(local(monday, 16) - timedelta(microseconds=1))
    assert not NYSE.is_open(local(HOLIDAY, 12))
    assert not NYSE.is_open(local(EARLY, 13)) and NYSE.is_open(local(EARLY, 12, 59))


def test_next_open_close_and_sessions_between() -> None:
    wednesday = date(2026, 11, 25)
    assert NYSE.next_open(local(wednesday, 9, 30)) == local(EARLY, 9, 30)
    assert NYSE.next_close(local(EARLY, 9)) == local(EARLY, 13)
    assert NYSE.next_close(local(EARLY, 13)) == local(date(2026, 11, 30), 16)
    sessions = NYSE.sessions_between(local(wednesday, 12), local(date(2026, 11, 30), 9, 30))
    assert sessions == [
        (local(wednesday, 9, 30), local(wednesday, 16)),
        (local(EARLY, 9, 30), local(EARLY, 13)),
    ]
    empty = Calendar(name="never", timezone=NY, sessions={})
    assert (
        empty.next_open(local(wednesday, 0)) is None
        and empty.next_close(local(wednesday, 0)) is None
    )


def test_session_offsets_follow_holidays_and_early_closes() -> None:
    calendars = {"nyse": NYSE}
    before = parse_trigger(
        {"before_open": "15m", "calendar": "nyse"}, default_tz="UTC", calendars=calendars
    )
    after = parse_trigger(
        {"after_close": "10m", "calendar": "nyse"}, default_tz="UTC", calendars=calendars
    )
    start = local(date(2026, 11, 25), 9, 15)
    assert preview(before, start, 2) == [local(EARLY, 9, 15), local(date(2026, 11, 30), 9, 15)]
    assert preview(after, start, 3) == [
        local(date(2026, 11, 25), 16, 10),
        local(EARLY, 13, 10),
        local(date(2026, 11, 30), 16, 10),
    ]


def test_overnight_session_and_dst_in_session_bounds() -> None:
    overnight = Calendar(name="fx", timezone=NY, sessions={6: ((time(17), time(16)),)})
    sunday = date(2026, 3, 8)  # spring forward at 02:00 inside the session
    assert overnight.is_open(local(date(2026, 3, 9), 15, 59))
    assert overnight.sessions_on(sunday) == [(local(sunday, 17), local(date(2026, 3, 9), 16))]
    assert overnight.sessions_on(sunday)[0][1] - overnight.sessions_on(sunday)[0][0] == timedelta(
        hours=23
    )


def _oracle_open(t: datetime) -> bool:
    wall = t.astimezone(NY)
    day = wall.date()
    if day.weekday() >= 5 or day in {HOLIDAY, date(2026, 12, 25)}:
        return False
    close = time(13) if day == EARLY else time(16)
    return time(9, 30) <= wall.time().replace(tzinfo=None) < close


@settings(max_examples=60, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2026, 10, 25), max_value=datetime(2027, 1, 5)),
    mode=st.sampled_from(["during", "outside"]),
    every=st.sampled_from(["1m", "5m", "7m", "1h"]),
)
def test_filter_matches_minute_walk(start: datetime, mode: str, every: str) -> None:
    """A filtered interval equals walking UTC minutes and keeping interval ticks whose
    session state (decided independently from local wall time) matches the mode."""
    trigger = parse_trigger(
        {"every": every, mode: "nyse"}, default_tz="UTC", calendars={"nyse": NYSE}
    )
    every_min = {"1m": 1, "5m": 5, "7m": 7, "1h": 60}[every]
    after = start.replace(tzinfo=UTC)
    u = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while not (
        (int(u.timestamp()) // 60) % every_min == 0 and _oracle_open(u) == (mode == "during")
    ):
        u += timedelta(minutes=1)
    assert trigger.next_fire_after(after) == u


def test_exchange_calendar_from_exchange_calendars() -> None:
    xnys = parse_calendar("nyse", {"exchange": "XNYS"})
    assert xnys.exchange == "XNYS" and xnys.timezone == NY
    assert HOLIDAY in xnys.holidays and xnys.early_closes[EARLY] == time(13)
    assert xnys.sessions_on(EARLY) == [(local(EARLY, 9, 30), local(EARLY, 13))]
    same = parse_schedule(
        [{"every": "5m", "during": "nyse"}, {"every": "1h", "outside": "nyse"}],
        default_tz="UTC",
        calendars={"nyse": xnys},
    )
    start = local(date(2026, 11, 23), 0) - timedelta(microseconds=1)
    assert [
        f for f in preview(same, start, 2000) if f < local(date(2026, 11, 30), 0)
    ] == expected_week()


def test_missing_optional_extra_gives_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "exchange_calendars", None)  # makes the import fail
    with pytest.raises(
        ImportError,
        match=(
            r"calendar 'x' names exchange XNYS "
            r"but the optional extra watchkeeper\[calendars\] is not installed"
        ),
    ):
        exchange_calendar("x", "XNYS")
    with pytest.raises(TriggerSpecError) as info:
        parse_calendar("x", {"exchange": "XNYS"})
    assert info.value.field == "exchange" and "watchkeeper[calendars]" in info.value.message
