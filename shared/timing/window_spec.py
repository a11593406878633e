"""``windows:`` entries → :class:`Window` objects (maintenance windows), with errors that
name the key at fault."""

from __future__ import annotations

from collections.abc import Mapping

from shared.timing.spec_fields import (
    Spec,
    build,
    check_keys,
    field,
    optional,
    parse_date,
    parse_time_range,
    parse_weekdays,
    spec_timezone,
)
from shared.timing.triggers.base import TriggerSpecError
from shared.timing.windows import Window

_WINDOW_KEYS = frozenset({"days", "hours", "max_concurrent", "start", "end", "timezone"})


def parse_window(name: str, spec: Spec, *, default_tz: str = "UTC") -> Window:
    """A :class:`Window` from a ``windows:`` entry: ``{hours: "01:00-05:00", days?: [mon,
    ...] (default every day), max_concurrent?: int, start?: date, end?: date,
    timezone?: name (default ``default_tz``)}``."""
    if not isinstance(spec, Mapping):
        raise TriggerSpecError(name, f"expected a mapping of window settings, got {spec!r}")
    check_keys(spec, _WINDOW_KEYS, f"window {name!r}")
    return build(
        "hours",
        lambda: Window(
            name=name,
            days=optional(spec, "days", parse_weekdays, frozenset(range(7))),
            hours=field(spec, "hours", parse_time_range),
            timezone=spec_timezone(spec, default_tz),
            start_date=optional(spec, "start", parse_date, None),
            end_date=optional(spec, "end", parse_date, None),
            max_concurrent=optional(spec, "max_concurrent", _max_concurrent, None),
        ),
    )


def _max_concurrent(value: object) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return value
    raise ValueError(f"expected a whole number >= 1 (or null for no cap), got {value!r}")
