"""Rolling restart of every service (two schedulers, two executors, a reporter, each its
own process) while 1,000 triggered runs flow: each is SIGTERMed in turn, exits cleanly
and is started again once its successor serves. Then: 0 lost, 0 duplicate results, one
completed effect per run, nothing pending, every result in the reporter's read model.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from redis.exceptions import ResponseError

from shared.contract.keys import EXECUTORS_GROUP, REPORTER_GROUP
from shared.runtime.embedded import EmbeddedRedis
from shared.runtime.redis import Redis
from tests.chaos.fleet import Fleet, fleet_config
from tests.chaos.flow import KEYS, final_state, flowing, wait_drained
from tests.chaos.oplog import check
from tests.executor.executor_support import wait_for

pytestmark = pytest.mark.chaos

RUNS = 1_000
SERVICES = ("scheduler-0", "scheduler-1", "executor-0", "executor-1", "reporter-0")


async def serving(r: Redis, fleet: Fleet, name: str) -> bool:
    """Whether ``name``'s current process has started serving (an observable sign)."""
    pid = str(fleet.pid(name))
    if name.startswith("scheduler"):
        return fleet.logged(name, "scheduler.started")
    stream, group = (
        (KEYS.due("normal"), EXECUTORS_GROUP) if name.startswith("executor")
        else (KEYS.results, REPORTER_GROUP)
    )  # fmt: skip
    try:
        consumers: Any = await r.xinfo_consumers(stream, group)
    except ResponseError:  # the group does not exist yet
        return False
    return any(c["name"].decode().split("-")[-2] == pid for c in consumers)


async def test_rolling_restart_while_1000_runs_flow_loses_and_duplicates_nothing(
    durable: EmbeddedRedis, r: Redis, tmp_path: Path, fleets: list[Fleet]
) -> None:
    oplog = tmp_path / "oplog"
    fleet = Fleet(tmp_path, durable.url, fleet_config(tmp_path, oplog))
    fleets.append(fleet)
    async with flowing(r, fleet, oplog, SERVICES) as (producer, _):
        await wait_for(lambda: _all_serving(r, fleet), 30, "every service serving")

        async def produce() -> None:
            for _ in range(RUNS):
                await producer.trigger()
                await asyncio.sleep(0.01)  # a steady flow across the restarts

        producing = asyncio.create_task(produce())
        for name in SERVICES:
            assert await fleet.stop(name) == 0, f"{name} did not exit cleanly"
            fleet.start(name)
            await wait_for(lambda n=name: serving(r, fleet, n), 30, f"{name} serving again")
        await producing
        await wait_drained(r, producer.emitted, 60)
    state = await final_state(r)
    assert len(producer.emitted) == RUNS
    assert check(oplog.read_text().splitlines(), state) == []
    effect_runs = [x for x in state.results if x.run_id.startswith("effect:")]
    assert len(effect_runs) == RUNS and {x.status for x in effect_runs} == {"succeeded"}
    stored = [await r.exists(KEYS.result(x.run_id)) for x in effect_runs]
    assert all(stored)  # the reporter recorded each one


async def _all_serving(r: Redis, fleet: Fleet) -> bool:
    return all([await serving(r, fleet, name) for name in SERVICES])
