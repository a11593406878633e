"""The service loop: failures are retried with backoff and logged in bounded lines."""

from __future__ import annotations

import asyncio

from redis.exceptions import ConnectionError as RedisConnectionError
from structlog.testing import capture_logs

from shared.runtime.clock import FakeClock
from shared.runtime.loop import MAX_BACKOFF_S, repeat_until
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
