"""Human duration strings ("90s", "5m", "1h30m", "7d") → seconds."""

from __future__ import annotations

import math
import re

UNIT_SECONDS: dict[str, float] = {
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
_HINT = "expected a number of seconds or e.g. '90s', '5m', '2h', '1d', '1h30m', '500ms'"


def parse_duration(value: str | int | float) -> float:
    """Seconds in ``value``: a non-negative number of seconds or a string of
    ``<number><unit>`` parts with units ``w d h m s ms``, largest first, each at most once
    (``"1h30m"``, ``"1.5h"``, ``"90"``).

    Raises ``ValueError`` quoting the bad text (booleans, negatives, NaN and infinity
    included).
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"invalid duration {value!r}: {_HINT}")
    if isinstance(value, str):
        return _parse_text(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"invalid duration {value!r}: must be a finite number >= 0")
    return float(value)


def _parse_text(text: str) -> float:
    compact = text.strip()
    if _NUMBER.fullmatch(compact):
        return float(compact)
    parts = list(_PART.finditer(compact))
    if not parts or "".join(p.group(0) for p in parts) != compact:
        raise ValueError(f"invalid duration {text!r}: {_HINT}")
    units = [p.group(2) for p in parts]
    order = list(UNIT_SECONDS)
    if sorted(units, key=order.index) != units or len(set(units)) != len(units):
        raise ValueError(f"invalid duration {text!r}: units must go largest first, each once")
    return sum(float(p.group(1)) * UNIT_SECONDS[p.group(2)] for p in parts)
