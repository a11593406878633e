"""A cancel request ends the handler alone, in the attempt's own task: the attempt goes on
(``RunCancelled``), while a cancellation of the attempt itself propagates, also when both
arrive together, and a handler that swallows a request leaves no cancellation behind."""

from __future__ import annotations

import asyncio

import pytest

from services.executor.cancel import Cancels, RunCancelled
from shared.contract.keys import Keys
from shared.runtime.redis import Redis


async def _started(cancels: Cancels, run_id: str) -> None:
    async with asyncio.timeout(5):
        while run_id not in cancels.handlers:  # noqa: ASYNC110 (the handler's own task)
            await asyncio.sleep(0)


async def _attempt(cancels: Cancels, run_id: str, handler: asyncio.Future[str]) -> str:
    """What the attempt does around a handler: a request becomes an outcome."""
    try:
        return await cancels.run(run_id, handler)
    except RunCancelled as exc:
        current = asyncio.current_task()
        assert current is not None and current.cancelling() == 0  # nothing left pending
        await asyncio.sleep(0)  # the attempt goes on (it publishes its result)
        return str(exc)


async def _requested(
    r: Redis, keys: Keys, run_id: str
) -> tuple[Cancels, asyncio.Future[str], asyncio.Task[str]]:
    """An attempt whose handler waits forever, and a cancel request for it, stored."""
    cancels = Cancels(r, keys)
    handler: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    attempt = asyncio.create_task(_attempt(cancels, run_id, handler))
    await _started(cancels, run_id)
    await r.set(keys.cancel(run_id), "ops")
    return cancels, handler, attempt


async def test_a_request_cancels_the_handler_and_the_attempt_goes_on(r: Redis, keys: Keys) -> None:
    cancels, handler, attempt = await _requested(r, keys, "run-1")

    assert await cancels.poll() == ["run-1"]

    assert await attempt == "cancelled on request of ops"
    assert handler.cancelled()
    assert cancels.handlers == {} and cancels.requested == {}


async def test_shutdown_with_a_request_still_cancels_the_attempt(r: Redis, keys: Keys) -> None:
    cancels, _, attempt = await _requested(r, keys, "run-2")
    await cancels.poll()
    attempt.cancel()  # shutdown, before the attempt ran again

    with pytest.raises(asyncio.CancelledError):
        await attempt


async def test_a_handler_that_swallows_the_request_leaves_nothing_pending(
    r: Redis, keys: Keys
) -> None:
    cancels = Cancels(r, keys)

    async def stubborn() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return "finished anyway"
        return "slept"

    async def attempt() -> tuple[str, int]:
        outcome = await cancels.run("run-3", stubborn())
        current = asyncio.current_task()
        assert current is not None
        await asyncio.sleep(0)  # no stray cancellation arrives here
        return outcome, current.cancelling()

    running = asyncio.create_task(attempt())
    await _started(cancels, "run-3")
    await r.set(keys.cancel("run-3"), "ops")
    await cancels.poll()

    assert await running == ("finished anyway", 0)


async def test_a_timeout_that_fires_with_a_request_still_times_out(r: Redis, keys: Keys) -> None:
    cancels = Cancels(r, keys)
    handler: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    scope: list[asyncio.Timeout] = []

    async def attempt() -> str:
        async with asyncio.timeout(10) as timeout:
            scope.append(timeout)
            return await cancels.run("run-4", handler)

    running = asyncio.create_task(attempt())
    await _started(cancels, "run-4")
    loop = asyncio.get_running_loop()
    # Both before the attempt runs again: the timeout expires, and a request is taken as
    # poll takes one (after its MGET: noted, then the handler's task cancelled).
    scope[0].reschedule(loop.time() - 1)
    cancels.requested["run-4"] = "ops"
    running.cancel()

    with pytest.raises(TimeoutError):
        await running
