"""Clocks: the only place Watchkeeper reads time.

Services receive a :class:`Clock` and never call ``datetime.now`` or ``time.time``
themselves, so tests drive time with :class:`FakeClock` instead of patching.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Wall time (aware UTC) for schedules and records, monotonic time for waits."""

    def now(self) -> datetime:
        """Current instant, aware UTC."""
        ...

    def time(self) -> float:
        """Current instant as UTC epoch seconds."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin that never goes backwards."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Current instant, aware UTC."""
        return datetime.now(UTC)

    def time(self) -> float:
        """Current UTC epoch seconds."""
        return time.time()

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep``."""
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that only moves when told to; ``sleep`` advances it instantly.

    Start it at an epoch (seconds) or an aware datetime.
    """

    def __init__(self, start: float | datetime = 1_800_000_000.0) -> None:
        self._t = start.timestamp() if isinstance(start, datetime) else float(start)
        self._mono = 0.0

    def now(self) -> datetime:
        """Current fake instant, aware UTC."""
        return datetime.fromtimestamp(self._t, UTC)

    def time(self) -> float:
        """Current fake epoch seconds."""
        return self._t

    def monotonic(self) -> float:
        """Fake monotonic seconds; advances with :meth:`advance`."""
        return self._mono

    def advance(self, seconds: float) -> None:
        """Move both wall and monotonic time forward by ``seconds`` (must be >= 0)."""
        if seconds < 0:
            raise ValueError(f"a clock cannot move backwards ({seconds} s)")
        self._t += seconds
        self._mono += seconds

    def set(self, when: float | datetime) -> None:
        """Jump wall time to ``when`` (monotonic time moves by the same amount if forward)."""
        target = when.timestamp() if isinstance(when, datetime) else float(when)
        self.advance(max(0.0, target - self._t))
        self._t = target

    async def sleep(self, seconds: float) -> None:
        """Advance instantly, then yield to the loop once."""
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)
