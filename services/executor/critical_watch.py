"""Waking a busy executor for a critical run.

A busy executor waits for free slots, not for new entries, so without this a critical
run would wait for the runs in progress to finish and then behind the fresh ones of the
next read. One standing task blocks on XREAD of the critical due stream, on a
connection of its own (a blocking read cancelled per wait would drop its connection),
and sets :attr:`CriticalWatch.arrived` when a new entry appears; the executor then reads
the critical stream alone, in a slot reserved for it (see
:meth:`~services.executor.service.Executor.run_once`). The watch also calls
:attr:`CriticalWatch.on_arrival` at once, so that a busy executor starts that read from
the watch itself instead of waiting for its intake loop to be woken: under load every
hand-over between tasks costs a turn of the event loop, and a turn holds the steps of a
whole batch of runs (milliseconds each on a busy host).

The event is a hint, never a claim: another executor may take the entry first, and a
spurious wake costs one read that finds nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.runtime.clock import Clock
from shared.runtime.logging import get_logger
from shared.runtime.redis import BLOCK_MS, Redis, RedisUnavailable, text
from shared.runtime.throttle import LogThrottle
from shared.runtime.wake import Wake

log = get_logger("watchkeeper.executor")
RETRY_S = 0.5
"""Pause after a failed read (Redis unreachable) before reading again."""


@dataclass
class CriticalWatch:
    """Sets :attr:`arrived` (and ``wake``) whenever a new entry appears on ``stream``."""

    r: Redis
    stream: str
    clock: Clock
    wake: Wake
    """Also set on each arrival (the executor's wait for slots waits on it)."""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    block_ms: int = BLOCK_MS
    since: str | None = None
    """The newest id seen; None until the watch has started (then the stream's newest)."""
    on_arrival: Callable[[], object] | None = None
    """Called (plain call, nothing awaited) after each arrival has set the events."""

    async def watch(self) -> None:
        """Watch until cancelled, on a connection of its own, closed when the watch ends."""
        conn = self.r.client()  # one connection, held for the watch's whole life
        throttle = LogThrottle(self.clock)
        try:
            while True:
                try:
                    await self._read_once(conn)
                    throttle.clear()
                except Exception as exc:  # the watch only hints: it must outlive any error
                    unavailable = isinstance(exc, RedisUnavailable)
                    allowed = throttle.allow("redis_unavailable" if unavailable else "error")
                    if allowed is not None:
                        log.warning("executor.critical_watch_failed", repeats=allowed.held,
                                    error=f"{type(exc).__name__}: {exc}",
                                    exc_info=allowed.first and not unavailable)  # fmt: skip
                    await self.clock.sleep(RETRY_S)
        finally:
            await asyncio.shield(conn.aclose())

    async def _read_once(self, conn: Redis) -> None:
        if self.since is None:
            newest: Any = await conn.xrevrange(self.stream, count=1)
            self.since = text(newest[0][0]) if newest else "0-0"
        reply: Any = await conn.xread({self.stream: self.since}, count=100, block=self.block_ms)
        if reply:
            self.since = text(reply[0][1][-1][0])
            self.arrived.set()
            self.wake.set()
            if self.on_arrival is not None:
                self.on_arrival()
