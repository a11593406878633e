"""Durations as people write them in config (``90s``, ``5m``, ``1h30m``, ``7d``) ↔ seconds."""

from __future__ import annotations

import math
import re
from typing import Final

UNITS: Final[dict[str, float]] = {
    "w": 604_800.0,
    "d": 86_400.0,
    "h": 3_600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 0.001,
}
"""Seconds per unit suffix, largest first (the order units must appear in)."""

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|w|d|h|m|s)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_HINT = "write a number of seconds or e.g. 90s, 5m, 2h, 1d, 1h30m, 500ms"


def parse_duration(value: object) -> float:
    """Seconds in ``value``: a non-negative number of seconds, or text made of
    ``<number><unit>`` parts with units ``w d h m s ms``, largest first, each at most once
    (``"1h30m"``, ``"1.5h"``, ``"90"``; case and spaces are ignored).

    Raises ``ValueError`` quoting the bad value (booleans, negatives, NaN and infinity
    included).
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{value!r} is not a duration ({_HINT})")
    if isinstance(value, str):
        return _parse_text(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"duration {value!r} must be a finite number >= 0")
    return float(value)


def _parse_text(text: str) -> float:
    compact = text.lower().replace(" ", "")
    if _NUMBER.fullmatch(compact):
        return float(compact)
    parts = list(_PART.finditer(compact))
    if not parts or "".join(p.group(0) for p in parts) != compact:
        raise ValueError(f"{text!r} is not a duration ({_HINT})")
    units = [p.group(2) for p in parts]
    order = list(UNITS)
    if sorted(units, key=order.index) != units or len(set(units)) != len(units):
        raise ValueError(f"{text!r} is not a duration (units go largest first, each once)")
    return sum(float(p.group(1)) * UNITS[p.group(2)] for p in parts)


def format_duration(seconds: float) -> str:
    """Short human form, the inverse of :func:`parse_duration` for whole seconds:
    ``300`` → ``5m``, ``5400`` → ``1h30m``, ``0.25`` → ``250ms``, ``0`` → ``0s``."""
    if 0 < seconds < 1:
        return f"{round(seconds * 1000)}ms"
    out, rest = "", round(seconds)
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        out += f"{count}{unit}" if count else ""
    return out or "0s"
