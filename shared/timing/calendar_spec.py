"""``calendars:`` entries → :class:`Calendar` objects (market sessions, holidays, early
closes), with errors that name the key at fault."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, time

from shared.timing.calendars import Calendar, exchange_calendar
from shared.timing.spec_fields import (
    Spec,
    check_keys,
    field,
    optional,
    parse_date,
    parse_time_of_day,
    parse_time_range,
    parse_timezone,
    parse_weekdays,
    text_value,
)
from shared.timing.triggers.base import TriggerSpecError

_CALENDAR_KEYS = frozenset(
    {"timezone", "sessions", "holidays", "early_close", "late_open", "exchange"}
)


def parse_calendar(name: str, spec: Spec) -> Calendar:
    """A :class:`Calendar` from a ``calendars:`` entry.

    Either explicit data: ``{timezone, sessions: {mon-fri: "09:30-16:00"}, holidays?:
    [dates], early_close?: {date: "13:00"}, late_open?: {date: "10:30"}}`` (a session
    value may be a list of ranges), or ``{exchange: XNYS}`` plus optional extra
    ``holidays``/``early_close``/``late_open``, which needs ``watchkeeper[calendars]``.
    """
    if not isinstance(spec, Mapping):
        raise TriggerSpecError(name, f"expected a mapping of calendar settings, got {spec!r}")
    check_keys(spec, _CALENDAR_KEYS, f"calendar {name!r}")
    base = _exchange_base(name, spec) if "exchange" in spec else _explicit_base(name, spec)
    return Calendar(
        name=name,
        timezone=base.timezone,
        sessions=base.sessions,
        holidays=base.holidays | optional(spec, "holidays", _dates, frozenset[date]()),
        early_closes={**base.early_closes, **optional(spec, "early_close", _date_times, {})},
        late_opens={**base.late_opens, **optional(spec, "late_open", _date_times, {})},
        exchange=base.exchange,
    )


def _exchange_base(name: str, spec: Spec) -> Calendar:
    for key in ("sessions", "timezone"):
        if key in spec:
            raise TriggerSpecError(key, "comes from the exchange; do not set it with 'exchange'")
    code = field(spec, "exchange", text_value)
    try:
        return exchange_calendar(name, code)
    except (ImportError, ValueError) as exc:
        raise TriggerSpecError("exchange", str(exc)) from None


def _explicit_base(name: str, spec: Spec) -> Calendar:
    tz = field(spec, "timezone", parse_timezone)
    sessions = field(spec, "sessions", _sessions)
    return Calendar(name=name, timezone=tz, sessions=sessions)


def _sessions(value: object) -> dict[int, tuple[tuple[time, time], ...]]:
    if not isinstance(value, Mapping) or not value:
        raise ValueError(f"expected a mapping like {{mon-fri: '09:30-16:00'}}, got {value!r}")
    found: dict[int, list[tuple[time, time]]] = {}
    for days, ranges in value.items():
        listed = ranges if isinstance(ranges, list | tuple) else [ranges]
        for day in parse_weekdays(days):
            found.setdefault(day, []).extend(parse_time_range(r) for r in listed)
    return {day: tuple(sorted(ranges)) for day, ranges in found.items()}


def _dates(value: object) -> frozenset[date]:
    if not isinstance(value, list | tuple):
        raise ValueError(f"expected a list of dates like [2026-11-26], got {value!r}")
    return frozenset(parse_date(item) for item in value)


def _date_times(value: object) -> dict[date, time]:
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a mapping like {{2026-11-27: '13:00'}}, got {value!r}")
    return {parse_date(day): parse_time_of_day(at) for day, at in value.items()}
