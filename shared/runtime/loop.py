"""The one service loop: repeat a step until stopped, surviving outages and bugs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final

from shared.runtime.logging import get_logger
from shared.runtime.redis import RedisUnavailable

log = get_logger("watchkeeper.loop")
MAX_BACKOFF_S: Final = 5.0


async def repeat_until(
    stop: asyncio.Event, step: Callable[[], Awaitable[object]], *, name: str
) -> None:
    """Call ``step`` until ``stop`` is set.

    Redis outages and unexpected errors are logged and retried with capped backoff, so
    one bad moment never takes a service (or ``up``) down; cancellation propagates.
    """
    delay = 0.1
    while not stop.is_set():
        try:
            await step()
            delay = 0.1
        except RedisUnavailable as exc:
            log.warning("service.redis_unavailable", service=name, error=str(exc), retry_in_s=delay)
        except Exception:
            log.exception("service.step_failed", service=name, retry_in_s=delay)
        else:
            continue
        await _sleep_or_stop(stop, delay)
        delay = min(delay * 2, MAX_BACKOFF_S)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return
