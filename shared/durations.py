"""Durations as people write them in config: ``90s``, ``5m``, ``2h``, ``7d``, ``1h30m``."""

from __future__ import annotations

import re
from typing import Any, Final

UNITS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART_RE: Final = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(value: Any) -> float:
    """Seconds for ``value`` (a number of seconds or text like ``1h30m``).

    Raises ValueError naming the text when it is not a non-negative duration.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration (write e.g. 30s, 5m, 2h, 7d)")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"duration {value!r} is negative")
        return float(value)
    text = str(value).strip().lower().replace(" ", "")
    if text and text.replace(".", "", 1).isdigit():
        return float(text)
    parts = _PART_RE.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{value!r} is not a duration (write e.g. 30s, 5m, 2h, 7d or 1h30m)")
    return sum(float(n) * UNITS[u] for n, u in parts)


def format_duration(seconds: float) -> str:
    """Short human form: ``300`` → ``5m``, ``5400`` → ``1h30m``, ``0.25`` → ``250ms``."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    out, rest = "", round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        out += f"{count}{unit}" if count else ""
    return out or "0s"
