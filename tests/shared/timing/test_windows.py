"""Maintenance windows: containment, deadlines, next start, midnight and DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.timing.window_spec import parse_window
from shared.timing.windows import Window

NY = ZoneInfo("America/New_York")


def local(y: int, m: int, d: int, hour: int, minute: int = 0) -> datetime:
    return datetime(y, m, d, hour, minute, tzinfo=NY).astimezone(UTC)


NIGHTLY = Window(
    name="nightly",
    days=frozenset(range(7)),
    hours=(time(1), time(5)),
    timezone=NY,
    max_concurrent=2,
)
LATE = Window(
    name="late", days=frozenset({4}), hours=(time(22), time(2)), timezone=NY
)  # Fridays 22:00 → Sat 02:00


def test_contains_is_half_open() -> None:
    assert NIGHTLY.contains(local(2026, 6, 1, 1))
    assert NIGHTLY.contains(local(2026, 6, 1, 4, 59))
    assert not NIGHTLY.contains(local(2026, 6, 1, 5))
    assert not NIGHTLY.contains(local(2026, 6, 1, 0, 59))


def test_crossing_midnight_belongs_to_start_day() -> None:
    friday = local(2026, 11, 27, 23)
    assert LATE.contains(friday) and LATE.contains(local(2026, 11, 28, 1, 59))
    assert not LATE.contains(local(2026, 11, 28, 23))  # Saturday evening: no Saturday window
    assert LATE.current_end(friday) == local(2026, 11, 28, 2)
    assert LATE.current_end(local(2026, 11, 28, 2)) is None
    assert LATE.next_start(friday) == local(2026, 12, 4, 22)


def test_next_start_and_dates() -> None:
    bounded = Window(
        name="b",
        days=frozenset({0}),
        hours=(time(1), time(5)),
        timezone=NY,
        start_date=date(2026, 11, 30),
        end_date=date(2026, 12, 7),
    )
    assert bounded.next_start(local(2026, 11, 1, 0)) == local(2026, 11, 30, 1)
    assert bounded.next_start(local(2026, 11, 30, 1)) == local(2026, 12, 7, 1)
    assert bounded.next_start(local(2026, 12, 7, 1)) is None
    assert not bounded.contains(local(2026, 11, 23, 2))
    assert (
        Window(name="never", days=frozenset(), hours=(time(1), time(2)), timezone=NY).next_start(
            local(2026, 1, 1, 0)
        )
        is None
    )


def test_dst_days_stretch_and_shrink_the_window() -> None:
    spring = NIGHTLY.current_end(local(2026, 3, 8, 1, 30))
    assert spring == local(2026, 3, 8, 5) and spring - local(2026, 3, 8, 1) == timedelta(hours=3)
    fall_start = NIGHTLY.next_start(datetime(2026, 11, 1, 0, tzinfo=UTC))
    assert fall_start == datetime(2026, 11, 1, 5, tzinfo=UTC)  # 01:00 EDT, first occurrence
    assert NIGHTLY.current_end(fall_start) == datetime(
        2026, 11, 1, 10, tzinfo=UTC
    )  # 05:00 EST: 5 hours


def test_whole_day_window() -> None:
    always = parse_window("always", {"hours": "00:00-00:00"}, default_tz="America/New_York")
    assert always.contains(local(2026, 6, 1, 12)) and always.current_end(
        local(2026, 6, 1, 12)
    ) == local(2026, 6, 2, 0)


def test_validation() -> None:
    with pytest.raises(ValueError, match="max_concurrent"):
        Window(
            name="w", days=frozenset({0}), hours=(time(1), time(2)), timezone=NY, max_concurrent=0
        )
    with pytest.raises(ValueError, match="after it ends"):
        Window(
            name="w",
            days=frozenset({0}),
            hours=(time(1), time(2)),
            timezone=NY,
            start_date=date(2026, 2, 1),
            end_date=date(2026, 1, 1),
        )


@settings(max_examples=150, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31)),
    days=st.frozensets(st.integers(0, 6), min_size=1),
    begin=st.integers(0, 23),
    length=st.integers(1, 23),
)
def test_contains_agrees_with_wall_clock(
    start: datetime, days: frozenset[int], begin: int, length: int
) -> None:
    """Outside DST changeover nights, containment is just a wall-clock reading."""
    window = Window(
        name="w", days=days, hours=(time(begin), time((begin + length) % 24)), timezone=NY
    )
    t = start.replace(tzinfo=UTC)
    wall = t.astimezone(NY).replace(tzinfo=None)
    if any(abs((wall.date() - d).days) <= 1 for d in (date(2026, 3, 8), date(2026, 11, 1))):
        return
    expected = any(
        (d := wall.date() - timedelta(days=back)).weekday() in days
        and datetime.combine(d, time(begin))
        <= wall
        < datetime.combine(d, time(begin)) + timedelta(hours=length)
        for back in (0, 1)
    )
    assert window.contains(t) == expected
    nxt = window.next_start(t)
    assert nxt is not None and nxt > t and window.contains(nxt)
