"""Bounded logging for failures that repeat: one line per kind per interval.

During an outage every loop fails every few hundred milliseconds; a line (let alone a
traceback) per retry would bury the one line that matters. A :class:`LogThrottle` lets
the first failure of a kind through, then at most one line per interval carrying how
many were held back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from shared.runtime.clock import Clock, SystemClock

LOG_EVERY_S: Final = 30.0
"""Longest silence about a failure that keeps happening."""


@dataclass(frozen=True, slots=True)
class Pass:
    """Permission to log one line: ``first`` for the kind's first occurrence (worth a
    traceback), ``held`` lines suppressed since the last one."""

    first: bool
    held: int


@dataclass
class LogThrottle:
    """Decides which failures of each kind get a log line (monotonic time of ``clock``)."""

    clock: Clock = field(default_factory=SystemClock)
    every_s: float = LOG_EVERY_S
    _last: dict[str, float] = field(default_factory=dict)
    _held: dict[str, int] = field(default_factory=dict)

    def allow(self, kind: str) -> Pass | None:
        """A :class:`Pass` when a line about ``kind`` may be logged now, else None (counted)."""
        now = self.clock.monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < self.every_s:
            self._held[kind] = self._held.get(kind, 0) + 1
            return None
        self._last[kind] = now
        return Pass(first=last is None, held=self._held.pop(kind, 0))

    def clear(self) -> bool:
        """Forget every kind (the failures ended); True when there was something to forget."""
        had = bool(self._last)
        self._last.clear()
        self._held.clear()
        return had
