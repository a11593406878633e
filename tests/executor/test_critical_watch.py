"""A critical run starts at once on a busy executor, in one slot beyond max_concurrent,
and the watch that wakes the executor for it ends with the executor."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from services.executor.service import Executor
from shared.contract.keys import EXECUTORS_GROUP, Keys
from shared.runtime.redis import Redis
from tests.executor.executor_support import (
    make_config,
    make_due,
    publish_due,
    results,
    serving,
    started,
    wait_for,
    wait_results,
)


async def long_runs(r: Redis, keys: Keys, n: int, priority: str = "normal") -> list[str]:
    """Publish ``n`` runs that last far longer than the test and wait until they run."""
    dues = [make_due(params={"seconds": 60.0}, priority=priority) for _ in range(n)]
    for due in dues:
        await publish_due(r, keys, due)
    for due in dues:
        await started(r, keys, due.run_id)
    return [due.run_id for due in dues]


async def test_critical_run_starts_while_every_slot_is_busy(
    r: Redis, keys: Keys, tmp_path: Path
) -> None:
    executor = Executor(r, make_config(keys, tmp_path, max_concurrent=2, grace_period=0.1))
    async with serving(executor):
        long = await long_runs(r, keys, 2)
        urgent = make_due(params={"seconds": 0.0}, priority="critical")
        await publish_due(r, keys, urgent)
        (result,) = await wait_results(r, keys, 1)
        assert (result.run_id, result.status) == (urgent.run_id, "succeeded")
        assert len(executor.inflight) == 2  # the long runs are still going
        assert not {res.run_id for res in await results(r, keys)} & set(long)


async def test_the_reserved_slot_is_one_and_only_for_critical(
    r: Redis, keys: Keys, tmp_path: Path
) -> None:
    executor = Executor(r, make_config(keys, tmp_path, max_concurrent=2, grace_period=0.1))
    async with serving(executor):
        await long_runs(r, keys, 2)
        await long_runs(r, keys, 1, priority="critical")  # in the reserved slot
        assert len(executor.inflight) == 3
        waiting = [make_due(priority="critical"), make_due(priority="normal")]
        for due in waiting:
            await publish_due(r, keys, due)
        await _idle_reads(executor)
        assert len(executor.inflight) == 3
        assert await results(r, keys) == []


async def _idle_reads(executor: Executor) -> None:
    """Wait until the watch saw the critical arrival, then let the intake go round."""

    async def seen() -> bool:
        return executor.critical.arrived.is_set()

    await wait_for(seen, 5, "the watch to see the critical run")
    await asyncio.sleep(0.2)  # a negative check: time for a wrongly taken run to start


def _watch_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "executor.critical_watch"]


async def test_watch_ends_and_gives_back_its_connection_at_stop(
    r: Redis, keys: Keys, tmp_path: Path
) -> None:
    executor = Executor(r, make_config(keys, tmp_path))
    async with serving(executor):
        urgent = make_due(priority="critical")
        await publish_due(r, keys, urgent)
        await wait_results(r, keys, 1)
        assert _watch_tasks() != []
    assert _watch_tasks() == []
    pool: Any = r.connection_pool
    assert pool._in_use_connections == set()  # the watch's own connection is back


async def test_critical_burst_on_a_busy_executor_takes_only_the_reserved_slot(
    r: Redis, keys: Keys, tmp_path: Path
) -> None:
    """The watch starts the critical read itself and the intake may start one too: each
    checks again once the other is done, so a burst of critical runs fills the reserved
    slot only."""
    executor = Executor(r, make_config(keys, tmp_path, max_concurrent=2, grace_period=0.1))
    async with serving(executor):
        await long_runs(r, keys, 2)
        urgent = [make_due(params={"seconds": 60.0}, priority="critical") for _ in range(5)]
        for due in urgent:
            await publish_due(r, keys, due)
        await started(r, keys, urgent[0].run_id)
        await _idle_reads(executor)
        assert len(executor.inflight) == 3
        assert await r.xlen(keys.due("critical")) == 5
        pending: Any = await r.xpending(keys.due("critical"), EXECUTORS_GROUP)
        assert pending["pending"] == 1
