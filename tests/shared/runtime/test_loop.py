"""The service loop: failures are retried with backoff and logged in bounded lines."""

from __future__ import annotations

import asyncio

from redis.exceptions import ConnectionError as RedisConnectionError
from structlog.testing import capture_logs

from shared.runtime.clock import FakeClock
from shared.runtime.loop import MAX_BACKOFF_S, repeat_until, wait_set
from shared.runtime.throttle import LOG_EVERY_S

FAILURES = 200


async def test_a_long_failure_logs_one_line_per_kind_per_interval() -> None:
    clock, stop = FakeClock(), asyncio.Event()
    calls = 0

    async def step() -> None:
        nonlocal calls
        calls += 1
        if calls > 2 * FAILURES:
            stop.set()  # recovered: one more step, then stop
            return
        if calls % 2:
            raise RedisConnectionError("Connection refused")
        raise KeyError("NOGROUP-like bug")

    with capture_logs() as logs:
        await repeat_until(stop, step, name="probe", clock=clock)

    elapsed = clock.monotonic()
    assert elapsed <= 2 * FAILURES * MAX_BACKOFF_S
    for event in ("service.redis_unavailable", "service.step_failed"):
        lines = [e for e in logs if e["event"] == event]
        assert 2 <= len(lines) <= 1 + elapsed / LOG_EVERY_S
        assert len(lines) + sum(e["repeats"] for e in lines) <= FAILURES
    tracebacks = [e for e in logs if e.get("exc_info")]
    assert len(tracebacks) == 1  # the first unexpected failure only, never per retry
    assert [e["event"] for e in logs][-1] == "service.recovered"


async def test_wait_set_says_whether_the_event_came_in_time() -> None:
    event = asyncio.Event()
    assert await wait_set(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_set(event, 10) is True


async def test_a_cancel_of_wait_set_ends_it_even_as_the_event_is_set() -> None:
    for _ in range(50):
        event = asyncio.Event()
        waiting = asyncio.create_task(wait_set(event, 10))
        await asyncio.sleep(0)
        event.set()
        waiting.cancel()  # lands in the turn the wait completes
        done, _ = await asyncio.wait({waiting}, timeout=2)
        assert done and waiting.cancelled()
