"""The one service loop: repeat a step until stopped, surviving outages and bugs."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Final

from shared.runtime.clock import Clock, SystemClock
from shared.runtime.logging import get_logger
from shared.runtime.redis import RETRY_CAP_S, RedisUnavailable
from shared.runtime.throttle import LogThrottle
from shared.timing.backoff import backoff_s

log = get_logger("watchkeeper.loop")
FIRST_BACKOFF_S: Final = 0.1
MAX_BACKOFF_S: Final = RETRY_CAP_S


async def repeat_until(
    stop: asyncio.Event,
    step: Callable[[], Awaitable[object]],
    *,
    name: str,
    clock: Clock | None = None,
) -> None:
    """Call ``step`` until ``stop`` is set.

    Redis outages and unexpected errors are retried with capped backoff, so one bad
    moment never takes a service (or ``up``) down; cancellation propagates. Logging
    stays bounded however long a failure lasts: one line per failure kind per
    :data:`~shared.runtime.throttle.LOG_EVERY_S`, a traceback only for the first of a kind.
    """
    clock = clock or SystemClock()
    throttle = LogThrottle(clock)
    failures = 0
    while not stop.is_set():
        try:
            await step()
        except Exception as exc:
            delay = backoff_s(failures, first_s=FIRST_BACKOFF_S, cap_s=MAX_BACKOFF_S,
                              rand=random.random())  # fmt: skip
            _log_failure(throttle, name, exc, delay)
        else:
            failures = 0
            if throttle.clear():
                log.info("service.recovered", service=name)
            continue
        failures += 1
        await sleep_or_stop(clock, stop, delay)


def _log_failure(throttle: LogThrottle, name: str, exc: Exception, delay: float) -> None:
    unavailable = isinstance(exc, RedisUnavailable)
    kind = "redis_unavailable" if unavailable else type(exc).__name__
    allowed = throttle.allow(kind)
    if allowed is None:
        return
    if unavailable:
        log.warning("service.redis_unavailable", service=name, error=str(exc),
                    retry_in_s=delay, repeats=allowed.held)  # fmt: skip
    else:
        log.error("service.step_failed", service=name, error=f"{kind}: {exc}",
                  retry_in_s=delay, repeats=allowed.held, exc_info=allowed.first)  # fmt: skip


async def sleep_or_stop(clock: Clock, stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` of ``clock`` time, or less if ``stop`` is set; True when stopped."""
    if stop.is_set():
        return True
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([sleeper, stopper], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sleeper, stopper):
            task.cancel()
        await asyncio.gather(sleeper, stopper, return_exceptions=True)
    return stop.is_set()


async def wait_set(event: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``event``; True when it is set. (Not ``wait_for``: on
    Python 3.11 that can swallow the caller's cancellation.)"""
    try:
        async with asyncio.timeout(seconds):
            return await event.wait()
    except TimeoutError:
        return False
