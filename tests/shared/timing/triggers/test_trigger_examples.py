"""Table-driven examples of each trigger kind, spelling out the DST rules by hand."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.timing.triggers import (
    CronTrigger,
    DailyTrigger,
    HourlyTrigger,
    IntervalTrigger,
    MonthlyTrigger,
    OnceTrigger,
    TriggerIterationError,
    UnionTrigger,
    WeeklyTrigger,
    preview,
    resolve_local,
)

NY = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
APIA = ZoneInfo("Pacific/Apia")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("wall", "tz", "gap", "fold", "expected"),
    [
        (datetime(2026, 3, 8, 2, 30), NY, "shift", "first", [utc(2026, 3, 8, 7)]),
        (datetime(2026, 3, 8, 2, 30), NY, "skip", "first", []),
        (datetime(2026, 11, 1, 1, 30), NY, "shift", "first", [utc(2026, 11, 1, 5, 30)]),
        (datetime(2026, 11, 1, 1, 30), NY, "shift", "last", [utc(2026, 11, 1, 6, 30)]),
        (
            datetime(2026, 11, 1, 1, 30),
            NY,
            "skip",
            "both",
            [utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30)],
        ),
        # Lord Howe springs forward 02:00 → 02:30 local (+10:30 → +11).
        (datetime(2026, 10, 4, 2, 15), LORD_HOWE, "shift", "first", [utc(2026, 10, 3, 15, 30)]),
        # ... and falls back 02:00 → 01:30 (+11 → +10:30): 01:45 happens twice, 30 min apart.
        (
            datetime(2026, 4, 5, 1, 45),
            LORD_HOWE,
            "shift",
            "both",
            [utc(2026, 4, 4, 14, 45), utc(2026, 4, 4, 15, 15)],
        ),
        # Apia skipped all of 2011-12-30: it resumes at 2011-12-31 00:00 +14 = 10:00Z.
        (datetime(2011, 12, 30, 12, 0), APIA, "shift", "first", [utc(2011, 12, 30, 10)]),
        (datetime(2011, 12, 30, 12, 0), APIA, "skip", "first", []),
        (datetime(2026, 6, 1, 12, 0), NY, "skip", "last", [utc(2026, 6, 1, 16)]),
    ],
)
def test_resolve_local(
    wall: datetime, tz: ZoneInfo, gap: str, fold: str, expected: list[datetime]
) -> None:
    assert list(resolve_local(wall, tz, gap=gap, fold=fold)) == expected  # type: ignore[arg-type]


def test_daily_across_spring_forward_shifts_to_gap_end() -> None:
    trigger = DailyTrigger(at=time(2, 30), timezone=NY)
    fires = preview(trigger, utc(2026, 3, 7, 12), 3)
    assert fires == [utc(2026, 3, 8, 7), utc(2026, 3, 9, 6, 30), utc(2026, 3, 10, 6, 30)]


def test_daily_fold_both_fires_twice_then_resumes() -> None:
    trigger = DailyTrigger(at=time(1, 30), timezone=NY, fold="both")
    fires = preview(trigger, utc(2026, 10, 31, 12), 3)
    assert fires == [utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30), utc(2026, 11, 2, 6, 30)]


def test_daily_fold_last_starting_inside_first_pass() -> None:
    trigger = DailyTrigger(at=time(1, 10), timezone=NY, fold="last")
    assert trigger.next_fire_after(utc(2026, 11, 1, 5, 30)) == utc(2026, 11, 1, 6, 10)


def test_hourly_defaults_once_per_real_hour_across_both_transitions() -> None:
    trigger = HourlyTrigger(minute=15, timezone=NY)
    spring = preview(trigger, utc(2026, 3, 8, 5), 3)
    assert [f - spring[0] for f in spring] == [timedelta(0), timedelta(hours=1), timedelta(hours=2)]
    fall = preview(trigger, utc(2026, 11, 1, 4), 4)
    assert [f.astimezone(NY).strftime("%H:%M%z") for f in fall] == [
        "00:15-0400",
        "01:15-0400",
        "01:15-0500",
        "02:15-0500",
    ]


def test_weekly_and_monthly() -> None:
    weekly = WeeklyTrigger(days=frozenset({6}), at=time(1, 30), timezone=NY)
    assert preview(weekly, utc(2026, 11, 23), 2) == [
        utc(2026, 11, 29, 6, 30),
        utc(2026, 12, 6, 6, 30),
    ]
    day31 = MonthlyTrigger(day=31, at=time(3), timezone=NY)
    assert [f.date().isoformat() for f in preview(day31, utc(2026, 1, 31, 9), 3)] == [
        "2026-03-31",
        "2026-05-31",
        "2026-07-31",
    ]
    last = MonthlyTrigger(day="last", at=time(0), timezone=UTC_ZONE)
    assert preview(last, utc(2028, 1, 31), 2) == [utc(2028, 2, 29), utc(2028, 3, 31)]


UTC_ZONE = ZoneInfo("UTC")


def test_cron_local_time_and_seconds_field() -> None:
    trigger = CronTrigger(expr="0 9 * * mon-fri", timezone=NY)
    assert trigger.next_fire_after(utc(2026, 11, 27, 14, 1)) == utc(2026, 11, 30, 14)
    seconds = CronTrigger(expr="*/30 * * * * 15")
    assert preview(seconds, utc(2026, 1, 1), 3) == [
        utc(2026, 1, 1, 0, 0, 15),
        utc(2026, 1, 1, 0, 30, 15),
        utc(2026, 1, 1, 1, 0, 15),
    ]
    assert CronTrigger(expr="0 3-3 * * *").next_fire_after(utc(2026, 1, 1)) == utc(2026, 1, 1, 3)


def test_interval_is_elapsed_time_aligned_to_epoch_or_anchor() -> None:
    every_5m = IntervalTrigger(every_s=300)
    assert every_5m.next_fire_after(utc(2026, 3, 8, 6, 58, 1)) == utc(2026, 3, 8, 7)
    anchored = IntervalTrigger(every_s=3600, anchor=utc(2026, 1, 1, 0, 20))
    assert anchored.next_fire_after(utc(2025, 12, 31, 23, 20)) == utc(
        2026, 12, 31, 23, 20
    ) - timedelta(days=365) + timedelta(hours=1)
    assert anchored.next_fire_after(utc(2026, 3, 8, 6, 20)) == utc(2026, 3, 8, 7, 20)


def test_once_and_union() -> None:
    once = OnceTrigger(at=utc(2026, 12, 1, 15))
    assert once.next_fire_after(utc(2026, 12, 1, 14)) == utc(2026, 12, 1, 15)
    assert once.next_fire_after(utc(2026, 12, 1, 15)) is None
    union = UnionTrigger(
        triggers=(once, IntervalTrigger(every_s=3600), OnceTrigger(at=utc(2026, 12, 1, 15)))
    )
    assert preview(union, utc(2026, 12, 1, 13, 30), 3) == [
        utc(2026, 12, 1, 14),
        utc(2026, 12, 1, 15),
        utc(2026, 12, 1, 16),
    ]
    assert preview(UnionTrigger(triggers=(once,)), utc(2026, 1, 1), 5) == [utc(2026, 12, 1, 15)]


def test_naive_after_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        DailyTrigger(at=time(2)).next_fire_after(datetime(2026, 1, 1))


def test_aware_non_utc_after_is_accepted_and_answer_is_utc() -> None:
    fire = DailyTrigger(at=time(2), timezone=NY).next_fire_after(datetime(2026, 1, 1, tzinfo=NY))
    assert fire == utc(2026, 1, 1, 7)
    assert fire is not None and fire.tzinfo is UTC


def test_skip_walks_through_apias_lost_day(monkeypatch: pytest.MonkeyPatch) -> None:
    # 2011-12-30 never happened in Apia: the next 30 December is 2012's (+14 in summer).
    trigger = CronTrigger(expr="* * 30 12 * *", timezone=APIA, gap="skip")
    assert trigger.next_fire_after(utc(2011, 12, 29, 10)) == utc(2012, 12, 29, 10)
    # The 86,400 skipped per-second candidates count against the iteration cap.
    monkeypatch.setattr("shared.timing.triggers.wallclock.MAX_ITERATIONS", 1000)
    with pytest.raises(TriggerIterationError):
        trigger.next_fire_after(utc(2011, 12, 29, 10))
    assert issubclass(TriggerIterationError, RuntimeError)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: HourlyTrigger(minute=60), "minute must be 0..59"),
        (lambda: DailyTrigger(at=time(2, tzinfo=UTC)), "must be naive"),
        (lambda: DailyTrigger(at=time(2), gap="later"), "gap policy"),  # type: ignore[arg-type]
        (lambda: DailyTrigger(at=time(2), fold="middle"), "fold policy"),  # type: ignore[arg-type]
        (lambda: WeeklyTrigger(days=frozenset(), at=time(2)), "at least one weekday"),
        (lambda: WeeklyTrigger(days=frozenset({7}), at=time(2)), "weekdays must be"),
        (lambda: MonthlyTrigger(day=0, at=time(2)), "1..31 or 'last'"),
        (lambda: IntervalTrigger(every_s=0), "must be positive"),
        (lambda: OnceTrigger(at=datetime(2026, 1, 1)), "naive"),
        (lambda: UnionTrigger(triggers=()), "at least one"),
        (lambda: CronTrigger(expr="0 0 30 2 *"), "matches no date"),
    ],
)
def test_constructors_validate(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]
