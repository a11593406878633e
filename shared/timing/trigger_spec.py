"""``schedule:`` values (as loaded from YAML) → triggers.

Every problem raises :class:`TriggerSpecError` naming the key at fault and saying what
is wrong, so ``watchkeeper validate`` can point at the exact line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal
from zoneinfo import ZoneInfo

from shared.timing.calendars import Calendar
from shared.timing.durations import parse_duration
from shared.timing.spec_fields import (
    Spec,
    build,
    check_keys,
    field,
    parse_instant,
    parse_minute_second,
    parse_time_of_day,
    parse_weekdays,
    spec_timezone,
    text_value,
)
from shared.timing.triggers.base import FOLD_POLICIES, GAP_POLICIES, Trigger, TriggerSpecError
from shared.timing.triggers.combine import CalendarFilter, UnionTrigger
from shared.timing.triggers.cron import CronTrigger
from shared.timing.triggers.daily import DailyTrigger
from shared.timing.triggers.hourly import HourlyTrigger
from shared.timing.triggers.interval import IntervalTrigger
from shared.timing.triggers.monthly import MonthlyTrigger
from shared.timing.triggers.once import OnceTrigger
from shared.timing.triggers.session import SessionOffsetTrigger
from shared.timing.triggers.weekly import WeeklyTrigger

_FILTER_KEYS = frozenset({"timezone", "during", "outside"})
_POLICY_KEYS = frozenset({"gap", "fold"})
_KIND_KEYS: dict[str, frozenset[str]] = {
    "cron": frozenset({"cron"}) | _POLICY_KEYS,
    "every": frozenset({"every", "anchor"}),
    "hourly": frozenset({"hourly", "at"}) | _POLICY_KEYS,
    "daily": frozenset({"daily", "at"}) | _POLICY_KEYS,
    "weekly": frozenset({"weekly", "at"}) | _POLICY_KEYS,
    "monthly": frozenset({"monthly", "at"}) | _POLICY_KEYS,
    "once": frozenset({"once"}),
    "before_open": frozenset({"before_open", "calendar"}),
    "after_close": frozenset({"after_close", "calendar"}),
}


def parse_schedule(
    specs: Spec | Sequence[Spec], *, default_tz: str, calendars: Mapping[str, Calendar]
) -> Trigger:
    """One trigger for a ``schedule:`` value: a single spec, or a list whose triggers are
    combined with :class:`UnionTrigger`. Errors in a list name the item: ``[1].every``."""
    if isinstance(specs, Mapping):
        return parse_trigger(specs, default_tz=default_tz, calendars=calendars)
    if isinstance(specs, str | bytes) or not isinstance(specs, Sequence) or not specs:
        raise TriggerSpecError("schedule", f"expected a mapping or a non-empty list, got {specs!r}")
    triggers = []
    for index, spec in enumerate(specs):
        try:
            triggers.append(parse_trigger(spec, default_tz=default_tz, calendars=calendars))
        except TriggerSpecError as exc:
            raise TriggerSpecError(f"[{index}].{exc.field}", exc.message) from None
    return UnionTrigger(triggers=tuple(triggers))


def parse_trigger(spec: Spec, *, default_tz: str, calendars: Mapping[str, Calendar]) -> Trigger:
    """The trigger described by one schedule spec.

    Kinds: ``{cron: "0 2 * * *"}``, ``{every: 5m, anchor?: iso}``, ``{hourly: ":15"}`` or
    ``{hourly: true, at: ":15"}``, ``{daily: "02:00"}`` or ``{at: "02:00"}``,
    ``{weekly: [sun], at: "01:30"}``, ``{monthly: 1|last, at: "03:00"}``,
    ``{once: "2026-12-01T10:00:00"}``, ``{before_open: 15m, calendar: nyse}``,
    ``{after_close: 10m, calendar: nyse}``. Optional: ``timezone`` (else ``default_tz``),
    ``gap``/``fold`` for wall-clock kinds, and one of ``during``/``outside`` naming a
    calendar in ``calendars`` to keep only fires in / out of its sessions.
    """
    if not isinstance(spec, Mapping):
        raise TriggerSpecError(
            "schedule", f"expected a mapping like {{cron: '0 2 * * *'}}, got {spec!r}"
        )
    kind = _kind_of(spec)
    check_keys(spec, _KIND_KEYS[kind] | _FILTER_KEYS, f"a {kind} schedule")
    tz = spec_timezone(spec, default_tz)
    trigger = _BUILDERS[kind](spec, tz, calendars)
    return _with_filter(trigger, spec, calendars)


def _kind_of(spec: Spec) -> str:
    kinds = [key for key in _KIND_KEYS if key in spec]
    if len(kinds) > 1:
        raise TriggerSpecError(
            kinds[1], f"conflicts with '{kinds[0]}': one kind per schedule entry"
        )
    if kinds:
        return kinds[0]
    if "at" in spec:
        return "daily"
    raise TriggerSpecError("schedule", f"no schedule kind; expected one of {', '.join(_KIND_KEYS)}")


def _policies(spec: Spec) -> dict[str, Any]:
    found = {}
    for key, allowed in (("gap", GAP_POLICIES), ("fold", FOLD_POLICIES)):
        if key in spec:
            if spec[key] not in allowed:
                raise TriggerSpecError(
                    key, f"must be one of {', '.join(allowed)}, got {spec[key]!r}"
                )
            found[key] = spec[key]
    return found


def _calendar(spec: Spec, key: str, calendars: Mapping[str, Calendar]) -> Calendar:
    name = spec[key]
    if not isinstance(name, str) or name not in calendars:
        known = ", ".join(sorted(calendars)) or "none defined"
        raise TriggerSpecError(key, f"unknown calendar {name!r} (known: {known})")
    return calendars[name]


def _with_filter(trigger: Trigger, spec: Spec, calendars: Mapping[str, Calendar]) -> Trigger:
    if "during" in spec and "outside" in spec:
        raise TriggerSpecError("outside", "give either 'during' or 'outside', not both")
    for mode in ("during", "outside"):
        if mode in spec:
            calendar = _calendar(spec, mode, calendars)
            return CalendarFilter(trigger=trigger, calendar=calendar, mode=mode)
    return trigger


def _cron(spec: Spec, tz: ZoneInfo, _: Mapping[str, Calendar]) -> Trigger:
    expr = field(spec, "cron", text_value)
    return build("cron", lambda: CronTrigger(expr=expr, timezone=tz, **_policies(spec)))


def _every(spec: Spec, tz: ZoneInfo, _: Mapping[str, Calendar]) -> Trigger:
    every_s = field(spec, "every", parse_duration)
    if every_s <= 0:
        raise TriggerSpecError("every", f"interval must be positive, got {spec['every']!r}")
    anchor = field(spec, "anchor", lambda v: parse_instant(v, tz)) if "anchor" in spec else None
    return IntervalTrigger(every_s=every_s, anchor=anchor, timezone=tz)


def _hourly(spec: Spec, tz: ZoneInfo, _: Mapping[str, Calendar]) -> Trigger:
    value = spec["hourly"]
    if value is True:
        minute, second = field(spec, "at", parse_minute_second)
    elif "at" in spec:
        raise TriggerSpecError(
            "at", "give the minute once: {hourly: ':15'} or {hourly: true, at: ':15'}"
        )
    else:
        minute, second = field(spec, "hourly", parse_minute_second)
    return HourlyTrigger(minute=minute, second=second, timezone=tz, **_policies(spec))


def _daily(spec: Spec, tz: ZoneInfo, _: Mapping[str, Calendar]) -> Trigger:
    if "daily" in spec and "at" in spec:
        raise TriggerSpecError("at", "give the time once: {daily: '02:00'} or {at: '02:00'}")
    at = field(spec, "daily" if "daily" in spec else "at", parse_time_of_day)
    return DailyTrigger(at=at, timezone=tz, **_policies(spec))


def _weekly(spec: Spec, tz: ZoneInfo, _: Mapping[str, Calendar]) -> Trigger:
    days = field(spec, "weekly", parse_weekdays)
    at = field(spec, "at", parse_time_of_day)
    return WeeklyTrigger(days=days, at=at, timezone=tz, **_policies(spec))


def _monthly(spec: Spec, tz: ZoneInfo, _: Mapping[str, Calendar]) -> Trigger:
    day = field(spec, "monthly", _day_of_month)
    at = field(spec, "at", parse_time_of_day)
    return MonthlyTrigger(day=day, at=at, timezone=tz, **_policies(spec))


def _once(spec: Spec, tz: ZoneInfo, _: Mapping[str, Calendar]) -> Trigger:
    return OnceTrigger(at=field(spec, "once", lambda v: parse_instant(v, tz)), timezone=tz)


def _before_open(spec: Spec, tz: ZoneInfo, calendars: Mapping[str, Calendar]) -> Trigger:
    offset_s = field(spec, "before_open", parse_duration)
    calendar = _calendar(spec, "calendar", calendars) if "calendar" in spec else None
    if calendar is None:
        raise TriggerSpecError("calendar", "before_open needs 'calendar: <name>'")
    return SessionOffsetTrigger(calendar=calendar, anchor="open", offset_s=-offset_s)


def _after_close(spec: Spec, tz: ZoneInfo, calendars: Mapping[str, Calendar]) -> Trigger:
    offset_s = field(spec, "after_close", parse_duration)
    calendar = _calendar(spec, "calendar", calendars) if "calendar" in spec else None
    if calendar is None:
        raise TriggerSpecError("calendar", "after_close needs 'calendar: <name>'")
    return SessionOffsetTrigger(calendar=calendar, anchor="close", offset_s=offset_s)


_BUILDERS: dict[str, Callable[[Spec, ZoneInfo, Mapping[str, Calendar]], Trigger]] = {
    "cron": _cron,
    "every": _every,
    "hourly": _hourly,
    "daily": _daily,
    "weekly": _weekly,
    "monthly": _monthly,
    "once": _once,
    "before_open": _before_open,
    "after_close": _after_close,
}


def _day_of_month(value: object) -> int | Literal["last"]:
    if value == "last":
        return "last"
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 31:
        return value
    raise ValueError(f"expected a day of the month 1..31 or 'last', got {value!r}")
