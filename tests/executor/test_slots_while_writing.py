"""A run leaves its slot when its handler is done: the next run starts while the result
is still being written, and the entries an executor holds stay within twice its slots."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.executor.service import Executor
from shared.contract.keys import EXECUTORS_GROUP, Keys
from shared.runtime.redis import Redis
from tests.executor.executor_support import (
    make_config,
    make_due,
    pending_count,
    publish_due,
    results,
    serving,
    started,
    wait_for,
    wait_results,
)


def hold_writes(executor: Executor) -> tuple[asyncio.Event, Callable[[], int]]:
    """Hold every result write (the real script call) until the returned event is set;
    also returns how many results are waiting at it."""
    gate, waiting = asyncio.Event(), []
    publisher = executor.attempt.publisher
    real_flush = publisher._flush

    async def held_flush(batch: list[Any]) -> None:
        waiting.extend(batch)
        await gate.wait()
        await real_flush(batch)

    publisher._flush = held_flush  # type: ignore[method-assign]
    return gate, lambda: len(waiting)


async def test_the_next_run_starts_while_the_last_result_is_written(
    r: Redis, keys: Keys, tmp_path: Path
) -> None:
    executor = Executor(r, make_config(keys, tmp_path, max_concurrent=1, grace_period=2.0))
    gate, held = hold_writes(executor)
    first, second = make_due(params={"seconds": 0.0}), make_due(params={"seconds": 0.0})
    async with serving(executor):
        await publish_due(r, keys, first)

        async def first_done() -> bool:
            return held() == 1

        await wait_for(first_done, 10, "the first result to wait at its write")
        assert executor.free == 1 and executor.running == 0
        await publish_due(r, keys, second)
        await started(r, keys, second.run_id)  # in the one slot, the first result unwritten
        assert await results(r, keys) == []
        gate.set()
        found = await wait_results(r, keys, 2)
    assert sorted(res.run_id for res in found) == sorted([first.run_id, second.run_id])
    assert {res.status for res in found} == {"succeeded"}
    assert await pending_count(r, keys) == 0


async def test_entries_held_stay_within_twice_the_slots(
    r: Redis, keys: Keys, tmp_path: Path
) -> None:
    executor = Executor(r, make_config(keys, tmp_path, max_concurrent=2, grace_period=2.0))
    gate, held = hold_writes(executor)
    dues = [make_due(params={"seconds": 0.0}) for _ in range(7)]
    async with serving(executor):
        for due in dues:
            await publish_due(r, keys, due)

        async def four_held() -> bool:
            return len(executor.inflight) == 4 and executor.running == 0

        await wait_for(four_held, 10, "four finished runs to wait for their results' write")
        await asyncio.sleep(0.3)  # a negative check: time for a fifth run to be taken
        assert held() >= 1 and len(executor.inflight) == 4 and executor.free == 0
        taken: Any = await r.xpending(keys.due("normal"), EXECUTORS_GROUP)
        assert int(taken["pending"]) == 4  # the other three are not read yet
        gate.set()
        found = await wait_results(r, keys, len(dues))
    assert sorted(res.run_id for res in found) == sorted(due.run_id for due in dues)
    assert await pending_count(r, keys) == 0
