"""The executor writes its results through its lane (a direct connection of its own),
and closes that connection when it stops."""

from __future__ import annotations

from pathlib import Path

from services.executor.service import Executor
from shared.contract.keys import Keys
from shared.runtime.redis import Redis
from tests.executor.executor_support import (
    make_config,
    make_due,
    publish_due,
    serving,
    wait_results,
)


async def _names(r: Redis) -> list[str]:
    return [c["name"] for c in await r.client_list()]


async def test_results_go_through_the_lane_and_it_closes_at_stop(
    r: Redis, keys: Keys, tmp_path: Path
) -> None:
    executor = Executor(r, make_config(keys, tmp_path))
    async with serving(executor):
        due = make_due("command", task="lane", params={"argv": ["true"]})
        await publish_due(r, keys, due)
        [result] = await wait_results(r, keys, 1)
        assert (result.run_id, result.status) == (due.run_id, "succeeded")
        # Only the lane names its connection so: the result went through it.
        assert f"{executor.id}-publish" in await _names(r)
    assert f"{executor.id}-publish" not in await _names(r)
