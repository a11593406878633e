"""Property tests: every wall-clock trigger kind agrees with a brute-force oracle.

The oracle knows nothing about the implementation: it walks UTC instants one minute
(or one second) at a time from ``after``, reads the wall clock with zoneinfo, and decides
membership directly from the rule stated in words:

* a matching wall time fires; if the same wall time also occurs at another instant (a
  fold), ``first``/``last``/``both`` decide which occurrence fires;
* where the clock jumps forward, and ``gap="shift"``, the instant the clock lands on fires
  if any skipped wall time would have matched.

Start instants are biased towards real DST transitions (including Lord Howe's 30-minute
shift and Apia skipping 2011-12-30), and trigger times towards the skipped/repeated
local hours.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.timing.triggers import (
    CronTrigger,
    DailyTrigger,
    HourlyTrigger,
    IntervalTrigger,
    MonthlyTrigger,
    OnceTrigger,
    Trigger,
    WeeklyTrigger,
)

ZONES = ("America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Pacific/Apia")
GAPS = ("shift", "skip")
FOLDS = ("first", "last", "both")
MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Matches = Callable[[datetime], bool]


def _wall(u: datetime, tz: ZoneInfo) -> datetime:
    return u.astimezone(tz).replace(tzinfo=None)


def _transitions(zone: str) -> list[datetime]:
    """UTC instants where the zone's offset changes, 2008-2030 (to bias start instants)."""
    tz = ZoneInfo(zone)
    found = []
    day = datetime(2008, 1, 1, tzinfo=UTC)
    while day < datetime(2030, 1, 1, tzinfo=UTC):
        nxt = day + timedelta(days=1)
        if day.astimezone(tz).utcoffset() != nxt.astimezone(tz).utcoffset():
            low, high = day, nxt
            while high - low > MINUTE:
                mid = low + (high - low) / 2
                mid = mid.replace(second=0, microsecond=0)
                if mid.astimezone(tz).utcoffset() == high.astimezone(tz).utcoffset():
                    high = mid
                else:
                    low = mid + MINUTE if mid == low else mid
            found.append(high)
        day = nxt
    return found


TRANSITIONS = {zone: _transitions(zone) for zone in ZONES}


# --- the oracle -------------------------------------------------------------------


def _other_instants(u: datetime, wall: datetime, tz: ZoneInfo) -> list[datetime]:
    """Every other instant near ``u`` whose wall clock shows the same ``wall``."""
    offsets = {(u + timedelta(hours=k)).astimezone(tz).utcoffset() for k in range(-27, 28)}
    candidates = {(wall - off).replace(tzinfo=UTC) for off in offsets if off is not None}
    return [c for c in candidates if c != u and _wall(c, tz) == wall]


def _fires(
    u: datetime,
    wall: datetime,
    prev: datetime,
    tz: ZoneInfo,
    rule: tuple[Matches, str, str, timedelta],
) -> bool:
    matches, gap, fold, step = rule
    if gap == "shift" and wall - prev > step:
        skipped = prev + step
        while skipped < wall:
            if matches(skipped):
                return True
            skipped += step
    if not matches(wall):
        return False
    if fold == "both":
        return True
    others = _other_instants(u, wall, tz)
    if fold == "first":
        return all(o > u for o in others)
    return all(o < u for o in others)


def oracle_next(
    after: datetime,
    tz: ZoneInfo,
    matches: Matches,
    *,
    gap: str,
    fold: str,
    step: timedelta,
    horizon: timedelta,
) -> datetime | None:
    """First grid instant strictly after ``after`` that fires, or None within ``horizon``."""
    step_s = int(step.total_seconds())
    u = datetime.fromtimestamp(int(after.timestamp()) // step_s * step_s, UTC) + step
    prev = _wall(u - step, tz)
    rule = (matches, gap, fold, step)
    while u <= after + horizon:
        wall = _wall(u, tz)
        if _fires(u, wall, prev, tz, rule):
            return u
        prev, u = wall, u + step
    return None


def assert_agrees(
    trigger: Trigger,
    after: datetime,
    tz: ZoneInfo,
    matches: Matches,
    *,
    step: timedelta,
    horizon: timedelta,
) -> None:
    """Two chained fires from ``after`` equal the oracle's (or both lie past the horizon)."""
    gap, fold = getattr(trigger, "gap"), getattr(trigger, "fold")  # noqa: B009
    for _ in range(2):
        expected = oracle_next(after, tz, matches, gap=gap, fold=fold, step=step, horizon=horizon)
        actual = trigger.next_fire_after(after)
        if expected is None:
            assert actual is None or actual > after + horizon, (after, actual)
            return
        assert actual == expected, f"after {after}: got {actual}, oracle {expected}"
        after = actual


# --- strategies -------------------------------------------------------------------


@st.composite
def scenarios(draw: st.DrawFn, zone: str) -> tuple[datetime, datetime]:
    """(after, hint): a start instant, and a local wall time the trigger should aim near.

    Mostly near a DST transition (hint = the wall time just before it), sometimes anywhere.
    """
    tz = ZoneInfo(zone)
    if draw(st.integers(0, 4)) == 0:
        after = datetime(2010, 1, 1, tzinfo=UTC) + timedelta(
            seconds=draw(st.integers(0, 18 * 365 * 86400))
        )
        return after, _wall(after, tz)
    transition = draw(st.sampled_from(TRANSITIONS[zone]))
    spread = draw(st.sampled_from([3 * 3600, 2 * 86400]))
    after = transition + timedelta(
        seconds=draw(st.integers(-spread, spread)),
        microseconds=draw(st.sampled_from([0, 0, 1, 999_999])),
    )
    return after, _wall(transition - SECOND, tz) + SECOND


def _near(draw: st.DrawFn, hint: datetime, *, seconds: bool = False) -> time:
    """A local time of day, usually within two hours of ``hint`` (inside gaps and folds)."""
    if draw(st.integers(0, 3)) == 0:
        return time(
            draw(st.integers(0, 23)),
            draw(st.integers(0, 59)),
            draw(st.integers(0, 59)) if seconds else 0,
        )
    moved = hint + timedelta(minutes=draw(st.integers(-120, 120)))
    return moved.time().replace(second=draw(st.integers(0, 59)) if seconds else 0, microsecond=0)


policies = st.tuples(st.sampled_from(GAPS), st.sampled_from(FOLDS))
zones = pytest.mark.parametrize("zone", ZONES)


# --- the properties ---------------------------------------------------------------


@zones
@PROPERTY
@given(data=st.data(), policy=policies)
def test_daily_matches_oracle(zone: str, data: st.DataObject, policy: tuple[str, str]) -> None:
    tz = ZoneInfo(zone)
    after, hint = data.draw(scenarios(zone))
    at = _near(data.draw, hint)
    trigger = DailyTrigger(at=at, timezone=tz, gap=policy[0], fold=policy[1])  # type: ignore[arg-type]
    assert_agrees(
        trigger, after, tz, lambda w: w.time() == at, step=MINUTE, horizon=timedelta(days=4)
    )


@zones
@PROPERTY
@given(data=st.data(), policy=policies)
def test_weekly_matches_oracle(zone: str, data: st.DataObject, policy: tuple[str, str]) -> None:
    tz = ZoneInfo(zone)
    after, hint = data.draw(scenarios(zone))
    at = _near(data.draw, hint)
    days = data.draw(st.frozensets(st.integers(0, 6), max_size=3)) | {hint.weekday()}
    trigger = WeeklyTrigger(days=days, at=at, timezone=tz, gap=policy[0], fold=policy[1])  # type: ignore[arg-type]

    def matches(w: datetime) -> bool:
        return w.weekday() in days and w.time() == at

    assert_agrees(trigger, after, tz, matches, step=MINUTE, horizon=timedelta(days=9))


@zones
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), policy=policies)
def test_monthly_matches_oracle(zone: str, data: st.DataObject, policy: tuple[str, str]) -> None:
    tz = ZoneInfo(zone)
    after, hint = data.draw(scenarios(zone))
    at = _near(data.draw, hint)
    day = data.draw(st.sampled_from([hint.day, hint.day, "last", 31, 30]) | st.integers(1, 31))
    trigger = MonthlyTrigger(day=day, at=at, timezone=tz, gap=policy[0], fold=policy[1])  # type: ignore[arg-type]

    def matches(w: datetime) -> bool:
        last_day = (w + timedelta(days=1)).day == 1
        return w.time() == at and (w.day == day or (day == "last" and last_day))

    assert_agrees(trigger, after, tz, matches, step=MINUTE, horizon=timedelta(days=63))


@zones
@PROPERTY
@given(data=st.data(), policy=policies)
def test_hourly_matches_oracle_to_the_second(
    zone: str, data: st.DataObject, policy: tuple[str, str]
) -> None:
    tz = ZoneInfo(zone)
    after, hint = data.draw(scenarios(zone))
    at = _near(data.draw, hint, seconds=True)
    trigger = HourlyTrigger(
        minute=at.minute, second=at.second, timezone=tz, gap=policy[0], fold=policy[1]
    )  # type: ignore[arg-type]

    def matches(w: datetime) -> bool:
        return (w.minute, w.second) == (at.minute, at.second)

    assert_agrees(trigger, after, tz, matches, step=SECOND, horizon=timedelta(hours=3))


@pytest.mark.parametrize("zone", [z for z in ZONES if z != "Australia/Lord_Howe"])
@PROPERTY
@given(data=st.data())
def test_hourly_defaults_fire_once_per_elapsed_hour_in_whole_hour_zones(
    zone: str, data: st.DataObject
) -> None:
    tz = ZoneInfo(zone)
    after, _ = data.draw(scenarios(zone))
    trigger = HourlyTrigger(minute=data.draw(st.integers(0, 59)), timezone=tz)
    first = trigger.next_fire_after(after)
    assert first is not None
    second = trigger.next_fire_after(first)
    assert second is not None
    # Apia's skipped day is the one place where a whole-hour zone jumps by 24 hours.
    assert second - first == timedelta(hours=1) or second - first == timedelta(hours=25)


# --- cron -------------------------------------------------------------------------


def _cron_values(text: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            first, last = low, high
        elif "-" in base:
            first, last = (int(x) for x in base.split("-"))
        else:
            first = int(base)
            last = high if step_text else first
        values |= set(range(first, last + 1, step))
    return values


def cron_matcher(expr: str) -> Matches:
    """An independent cron reading: Vixie semantics (day-of-month OR day-of-week when both
    are restricted), Sunday as 0 or 7, optional trailing seconds field."""
    fields = expr.split()
    minutes, hours = _cron_values(fields[0], 0, 59), _cron_values(fields[1], 0, 23)
    doms, months = _cron_values(fields[2], 1, 31), _cron_values(fields[3], 1, 12)
    dows = {d % 7 for d in _cron_values(fields[4], 0, 7)}
    seconds = _cron_values(fields[5], 0, 59) if len(fields) == 6 else {0}
    either = fields[2] != "*" and fields[4] != "*"

    def matches(w: datetime) -> bool:
        if w.second not in seconds or w.minute not in minutes or w.hour not in hours:
            return False
        dom_ok, dow_ok = w.day in doms, (w.weekday() + 1) % 7 in dows
        return w.month in months and ((dom_ok or dow_ok) if either else (dom_ok and dow_ok))

    return matches


@st.composite
def cron_field(draw: st.DrawFn, near: int, low: int, high: int, *, steps: bool = True) -> str:
    a, b = sorted((draw(st.integers(low, high)), draw(st.integers(low, high))))
    options = [str(near), f"{a}-{b}", f"{a},{near}", "*", str(a)]
    if steps:
        options += [f"*/{draw(st.integers(2, 20))}", f"{a}-{b}/{draw(st.integers(1, 7))}"]
    return draw(st.sampled_from(options))


@zones
@PROPERTY
@given(data=st.data(), policy=policies)
def test_cron_matches_oracle(zone: str, data: st.DataObject, policy: tuple[str, str]) -> None:
    tz = ZoneInfo(zone)
    after, hint = data.draw(scenarios(zone))
    at = _near(data.draw, hint)
    dom = data.draw(
        st.sampled_from(["*", "*", str(hint.day)]) | cron_field(hint.day, 1, 28, steps=False)
    )
    dow = data.draw(
        st.sampled_from(["*", "*", "0-6"]) | cron_field((hint.weekday() + 1) % 7, 0, 7, steps=False)
    )
    expr = " ".join(
        [
            data.draw(cron_field(at.minute, 0, 59)),
            data.draw(cron_field(at.hour, 0, 23)),
            dom,
            "*",
            dow,
        ]
    )
    trigger = CronTrigger(expr=expr, timezone=tz, gap=policy[0], fold=policy[1])  # type: ignore[arg-type]
    assert_agrees(trigger, after, tz, cron_matcher(expr), step=MINUTE, horizon=timedelta(days=32))


@zones
@PROPERTY
@given(data=st.data(), policy=policies)
def test_cron_with_seconds_matches_oracle(
    zone: str, data: st.DataObject, policy: tuple[str, str]
) -> None:
    tz = ZoneInfo(zone)
    after, hint = data.draw(scenarios(zone))
    at = _near(data.draw, hint, seconds=True)
    expr = " ".join(
        [
            data.draw(cron_field(at.minute, 0, 59)),
            data.draw(st.sampled_from(["*", f"{at.hour}-23,0-{at.hour}"])),
            "* * *",
            data.draw(cron_field(at.second, 0, 59)),
        ]
    )
    trigger = CronTrigger(expr=expr, timezone=tz, gap=policy[0], fold=policy[1])  # type: ignore[arg-type]
    assert_agrees(trigger, after, tz, cron_matcher(expr), step=SECOND, horizon=timedelta(hours=3))


@zones
@PROPERTY
@given(data=st.data(), policy=policies)
def test_dense_cron_inside_gaps_and_folds_matches_oracle(
    zone: str, data: st.DataObject, policy: tuple[str, str]
) -> None:
    """Several fires per repeated/skipped hour, starting inside it: the case where the
    fold="both" order of fires differs from the order of wall times."""
    tz = ZoneInfo(zone)
    transition = data.draw(st.sampled_from(TRANSITIONS[zone]))
    after = transition + timedelta(
        seconds=data.draw(st.integers(-3600, 0) | st.integers(-5400, 1800))
    )
    step = data.draw(st.integers(1, 30))
    expr = data.draw(st.sampled_from([f"*/{step} * * * *", f"{step},{step + 29} * * * *"]))
    trigger = CronTrigger(expr=expr, timezone=tz, gap=policy[0], fold=policy[1])  # type: ignore[arg-type]
    assert_agrees(trigger, after, tz, cron_matcher(expr), step=MINUTE, horizon=timedelta(days=2))


# --- elapsed-time kinds -----------------------------------------------------------


@zones
@PROPERTY
@given(
    data=st.data(), every_s=st.integers(1, 7200), anchor_s=st.integers(0, 2_000_000_000) | st.none()
)
def test_interval_matches_oracle(
    zone: str, data: st.DataObject, every_s: int, anchor_s: int | None
) -> None:
    after, _ = data.draw(scenarios(zone))
    anchor = None if anchor_s is None else datetime.fromtimestamp(anchor_s, UTC)
    trigger = IntervalTrigger(every_s=every_s, anchor=anchor, timezone=ZoneInfo(zone))
    base = 0 if anchor_s is None else anchor_s
    u = datetime.fromtimestamp(int(after.timestamp()), UTC) + SECOND
    while (int(u.timestamp()) - base) % every_s:
        u += SECOND
    assert trigger.next_fire_after(after) == u
    assert trigger.next_fire_after(u) == u + timedelta(seconds=every_s)


@given(at_s=st.integers(0, 2_000_000_000), after_s=st.integers(0, 2_000_000_000))
@settings(max_examples=50, deadline=None)
def test_once_fires_only_strictly_after(at_s: int, after_s: int) -> None:
    at, after = datetime.fromtimestamp(at_s, UTC), datetime.fromtimestamp(after_s, UTC)
    expected = at if at > after else None
    assert OnceTrigger(at=at).next_fire_after(after) == expected


def test_transitions_cover_the_interesting_cases() -> None:
    """The bias list really contains Apia's lost day and Lord Howe's half-hour shifts."""
    apia = [t for t in TRANSITIONS["Pacific/Apia"] if t.date() == date(2011, 12, 30)]
    assert apia == [datetime(2011, 12, 30, 10, tzinfo=UTC)]
    lord_howe = ZoneInfo("Australia/Lord_Howe")
    shifts = {
        (t.astimezone(lord_howe).utcoffset() or timedelta())
        - ((t - SECOND).astimezone(lord_howe).utcoffset() or timedelta())
        for t in TRANSITIONS["Australia/Lord_Howe"]
    }
    assert shifts == {timedelta(minutes=30), timedelta(minutes=-30)}
