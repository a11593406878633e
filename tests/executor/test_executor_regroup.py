"""An executor whose groups Redis lost (emptied, flushed, key evicted) recreates them from
id 0 and goes on: intake, reclaimer and consumer cleanup."""

from __future__ import annotations

from pathlib import Path

from services.executor.service import Executor
from shared.contract.keys import EXECUTORS_GROUP, Keys
from shared.runtime.redis import Redis
from tests.executor.executor_support import make_config, make_due, publish_due, wait_results


async def _lose_due_streams(r: Redis, keys: Keys) -> None:
    await r.delete(*keys.due_streams)


async def test_intake_recreates_a_lost_group_and_runs_what_was_written_since(
    r: Redis, keys: Keys, tmp_path: Path
) -> None:
    executor = Executor(r, make_config(keys, tmp_path))
    await executor.start()
    await _lose_due_streams(r, keys)
    due = make_due()
    await publish_due(r, keys, due)  # written after the loss, before any reader noticed
    try:
        assert await executor.run_once(block_ms=10) == 1
        (result,) = await wait_results(r, keys, 1)
    finally:
        await executor.drain(5)
    assert (result.run_id, result.status) == (due.run_id, "succeeded")
    groups = await r.xinfo_groups(keys.due("normal"))
    assert [g["name"] for g in groups] == [EXECUTORS_GROUP.encode()]


async def test_reclaimer_and_cleanup_survive_a_lost_group(
    r: Redis, keys: Keys, tmp_path: Path
) -> None:
    executor = Executor(r, make_config(keys, tmp_path))
    await executor.start()
    await _lose_due_streams(r, keys)
    assert await executor.reclaim_once() == 0
    assert await executor.forget_dead_consumers() == []
    for stream in keys.due_streams:  # the reclaimer recreated every group it met
        assert [g["name"] for g in await r.xinfo_groups(stream)] == [EXECUTORS_GROUP.encode()]
