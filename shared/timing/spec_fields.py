"""Parsers for the scalar values found in schedule, calendar and window specs.

Each takes what YAML may hand over (strings, ``date``/``datetime``/``time`` objects,
numbers) and returns a typed value or raises ``ValueError`` with a message that quotes
the bad input; :func:`field` attaches the field name. Also the helpers every spec parser
(schedules, calendars, windows) uses to read keys and report errors against them.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.timing.triggers.base import TriggerSpecError
from shared.timing.triggers.dst import local_to_utc

T = TypeVar("T")
Spec = Mapping[str, Any]
"""One spec as loaded from YAML (a schedule entry, a calendar, a window)."""

WEEKDAY_NAMES: dict[str, int] = {
    name: index
    for index, names in enumerate(
        [
            ("mon", "monday"),
            ("tue", "tuesday"),
            ("wed", "wednesday"),
            ("thu", "thursday"),
            ("fri", "friday"),
            ("sat", "saturday"),
            ("sun", "sunday"),
        ]
    )
    for name in names
}
"""Accepted weekday names (any case) → weekday number, Monday=0."""

_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
_MINUTE = re.compile(r":(\d{1,2})(?::(\d{2}))?")


def parse_timezone(value: object) -> ZoneInfo:
    """The IANA zone named ``value``; ``"unknown timezone 'Mars/Base'"`` otherwise."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected an IANA timezone name like 'America/New_York', got {value!r}")
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {value!r}") from None


def parse_time_of_day(value: object) -> time:
    """A naive local time from ``"HH:MM"``, ``"HH:MM:SS"`` or a ``time`` object."""
    if isinstance(value, time):
        if value.tzinfo is not None:
            raise ValueError(f"time {value} must not carry a timezone (use 'timezone')")
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 12:30 as the base-60 integer 750.
        raise ValueError(f"expected a time like '02:00', got the number {value} (quote times)")
    match = _TIME.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"expected a time like '02:00' or '02:00:30', got {value!r}")
    hour, minute, second = (int(part or 0) for part in match.groups())
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"{value!r} is not a time of day (00:00 .. 23:59:59)")
    return time(hour, minute, second)


def parse_time_range(value: object) -> tuple[time, time]:
    """``(start, end)`` from ``"HH:MM-HH:MM"``; an end at or before the start wraps midnight."""
    if not isinstance(value, str) or value.count("-") != 1:
        raise ValueError(f"expected a time range like '09:30-16:00', got {value!r}")
    start, end = value.split("-")
    return parse_time_of_day(start), parse_time_of_day(end)


def parse_minute_second(value: object) -> tuple[int, int]:
    """``(minute, second)`` past the hour from ``":15"``, ``":15:30"`` or an int minute."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 59:
        return value, 0
    match = _MINUTE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"expected minutes past the hour like ':15' or ':15:30', got {value!r}")
    minute, second = int(match.group(1)), int(match.group(2) or 0)
    if minute > 59 or second > 59:
        raise ValueError(f"{value!r} is not a time within the hour (:00 .. :59:59)")
    return minute, second


def parse_weekdays(value: object) -> frozenset[int]:
    """Weekday numbers from names, ranges and lists: ``"mon-fri"``, ``[sat, sun]``,
    ``"mon,wed"``. Ranges may wrap (``"fri-mon"``)."""
    items: object = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, Sequence) or isinstance(items, str | bytes) or not items:
        raise ValueError(f"expected weekday names like [mon, tue] or 'mon-fri', got {value!r}")
    days: set[int] = set()
    for item in items:
        days |= _weekday_item(item)
    return frozenset(days)


def _weekday_item(item: object) -> set[int]:
    if not isinstance(item, str):
        raise ValueError(f"expected a weekday name (mon .. sun), got {item!r}")
    first, _, last = item.strip().lower().partition("-")
    start, end = _weekday(first), _weekday(last or first)
    return {(start + step) % 7 for step in range((end - start) % 7 + 1)}


def _weekday(name: str) -> int:
    if name not in WEEKDAY_NAMES:
        raise ValueError(f"unknown weekday {name!r} (use mon, tue, wed, thu, fri, sat, sun)")
    return WEEKDAY_NAMES[name]


def parse_date(value: object) -> date:
    """A calendar date from a ``date`` object (what YAML gives) or ``"YYYY-MM-DD"``."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):  # reported below with the expected form
            return date.fromisoformat(value.strip())
    raise ValueError(f"expected a date like 2026-11-26, got {value!r}")


def parse_instant(value: object, tz: ZoneInfo) -> datetime:
    """An aware instant from a ``datetime`` or ISO 8601 text; naive means local in ``tz``
    (a nonexistent local time moves to the end of the DST gap)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f"expected a date-time like 2026-12-01T10:00:00, got {value!r}"
            ) from None
    if not isinstance(value, datetime):
        raise ValueError(f"expected a date-time like 2026-12-01T10:00:00, got {value!r}")
    if value.tzinfo is None:
        return local_to_utc(value, tz)
    return value


def field(spec: Spec, key: str, parse: Callable[[Any], T]) -> T:
    """``parse(spec[key])`` with any ``ValueError`` re-raised as a spec error on ``key``."""
    if key not in spec:
        raise TriggerSpecError(key, f"'{key}' is required here")
    try:
        return parse(spec[key])
    except TriggerSpecError:
        raise
    except ValueError as exc:
        raise TriggerSpecError(key, str(exc)) from None


def optional(spec: Spec, key: str, parse: Callable[[Any], T], default: T) -> T:
    """:func:`field` when ``key`` is present, else ``default``."""
    return field(spec, key, parse) if key in spec else default


def check_keys(spec: Spec, allowed: frozenset[str], what: str) -> None:
    """Refuse the first key of ``spec`` not in ``allowed`` (``what`` names the spec)."""
    for key in spec:
        if key not in allowed:
            raise TriggerSpecError(
                str(key), f"unknown key {key!r} for {what} (allowed: {', '.join(sorted(allowed))})"
            )


def spec_timezone(spec: Spec, default_tz: str) -> ZoneInfo:
    """The spec's ``timezone``, else ``default_tz``; a bad name is a spec error."""
    if "timezone" in spec:
        return field(spec, "timezone", parse_timezone)
    return field({"timezone": default_tz}, "timezone", parse_timezone)


def build(key: str, make: Callable[[], T]) -> T:
    """``make()`` with a constructor's ``ValueError`` reported against ``key``."""
    try:
        return make()
    except TriggerSpecError:
        raise
    except ValueError as exc:
        raise TriggerSpecError(key, str(exc)) from None


def text_value(value: object) -> str:
    """Non-empty text, stripped."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected text, got {value!r}")
    return value.strip()
