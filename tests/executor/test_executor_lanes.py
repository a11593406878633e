"""The executor takes runs and writes results through its lanes (direct connections of
its own), and closes them when it stops."""

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


async def test_takes_and_results_go_through_the_lanes_closed_at_stop(
    r: Redis, keys: Keys, tmp_path: Path
) -> None:
    executor = Executor(r, make_config(keys, tmp_path))
    async with serving(executor):
        due = make_due("command", task="lane", params={"argv": ["true"]})
        await publish_due(r, keys, due)
        [result] = await wait_results(r, keys, 1)
        assert (result.run_id, result.status) == (due.run_id, "succeeded")
        # Only the lanes name their connections so, and their last commands were a
        # take's and a result's script calls.
        lanes = {c["name"]: c["cmd"] for c in await r.client_list()}
        assert lanes[f"{executor.id}-take"] == lanes[f"{executor.id}-publish"] == "evalsha"
    names = await _names(r)
    assert f"{executor.id}-take" not in names
    assert f"{executor.id}-publish" not in names
