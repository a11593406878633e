"""Real executor processes on real Redis: kill -9, SIGSTOP, poison pills, SIGTERM, limits."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from shared.contract.codec import decode
from shared.contract.events import AlertRaised, TaskResult
from shared.contract.keys import EXECUTORS_GROUP, Keys
from shared.runtime.redis import Redis, ensure_group
from tests.executor.executor_support import (
    ExecutorProcess,
    make_due,
    pending_count,
    publish_due,
    results,
    wait_for,
    wait_results,
)

Spawn = Callable[..., ExecutorProcess]


@pytest.fixture
async def spawn(r: Redis, redis_url: str, keys: Keys, tmp_path: Path) -> AsyncIterator[Spawn]:
    """Start executor processes; every one still running is killed afterwards.

    The group exists before any process starts, so tests can inspect it at once.
    """
    for stream in keys.due_streams:
        await ensure_group(r, stream, EXECUTORS_GROUP)
    procs: list[ExecutorProcess] = []

    def start(name: str, **settings: Any) -> ExecutorProcess:
        proc = ExecutorProcess(redis_url, keys, tmp_path, f"{name}-{len(procs)}", **settings)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.stop()


async def owner_pid(r: Redis, keys: Keys, stream: str) -> int:
    """PID of the executor holding the oldest pending entry (consumer names carry it)."""

    async def owner() -> Any:
        info: Any = await r.xpending_range(stream, EXECUTORS_GROUP, "-", "+", 1)
        return info[0]["consumer"] if info else None

    consumer = await wait_for(owner, 10, "an executor to take the entry")
    return int(consumer.decode().split("-")[-2])


def of_run(found: list[TaskResult], run_id: str) -> list[TaskResult]:
    return [x for x in found if x.run_id == run_id]


async def test_kill_9_mid_run_another_executor_completes_it_once(
    r: Redis, keys: Keys, spawn: Spawn
) -> None:
    procs = {p.proc.pid: p for p in (spawn("a"), spawn("b"))}
    due = make_due(params={"seconds": 3})
    await publish_due(r, keys, due)
    victim = procs.pop(await owner_pid(r, keys, keys.due("normal")))
    await asyncio.sleep(0.5)  # well into the run
    victim.signal(signal.SIGKILL)
    [survivor] = procs.values()
    await wait_results(r, keys, 1, timeout_s=15)
    [result] = of_run(await results(r, keys), due.run_id)
    assert result.status == "succeeded"
    assert result.executor.split("-")[-2] == str(survivor.proc.pid)
    assert await pending_count(r, keys) == 0
    assert result.attempt == int(await r.get(keys.attempts(due.run_id)) or 0) == 2


async def test_sigstop_past_visibility_then_sigcont_completes_once(
    r: Redis, keys: Keys, spawn: Spawn
) -> None:
    procs = {p.proc.pid: p for p in (spawn("a"), spawn("b"))}
    due = make_due(params={"seconds": 3})
    await publish_due(r, keys, due)
    frozen = procs.pop(await owner_pid(r, keys, keys.due("normal")))
    await asyncio.sleep(0.3)
    frozen.signal(signal.SIGSTOP)
    [rescuer] = procs.values()
    await rescuer.wait_logged("reclaim.claimed", timeout_s=10)
    await asyncio.sleep(1.0)  # let the rescuer get well into its own run
    frozen.signal(signal.SIGCONT)
    await frozen.wait_logged("run.late_ack_ignored", timeout_s=15)
    await wait_results(r, keys, 1, timeout_s=15)
    await asyncio.sleep(0.3)  # a second (wrong) result would have been written by now
    [result] = of_run(await results(r, keys), due.run_id)
    assert (result.status, result.executor.split("-")[-2]) == ("succeeded", str(rescuer.proc.pid))
    assert await pending_count(r, keys) == 0


async def test_poison_pill_is_dead_lettered_and_other_runs_keep_flowing(
    r: Redis, keys: Keys, spawn: Spawn
) -> None:
    # One slot each, so a dying executor only ever takes the poison pill down with it.
    fleet = [spawn("p", max_concurrent=1), spawn("p", max_concurrent=1)]
    poison = make_due("t_exit", task="poison")
    await publish_due(r, keys, poison)
    others = [make_due(params={"seconds": 0.05}) for _ in range(8)]

    async def settled() -> bool:
        for i, proc in enumerate(fleet):
            if proc.proc.poll() is not None:
                fleet[i] = spawn("p", max_concurrent=1)  # a supervisor restarting it
        if others and await pending_count(r, keys) > 0:
            await publish_due(r, keys, others.pop())
        return not others and len(await results(r, keys)) == 9

    await wait_for(settled, 40, "poison dead-lettered and 8 runs done", every_s=0.2)
    found = await results(r, keys)
    [dead] = of_run(found, poison.run_id)
    assert dead.status == "dead_lettered"
    assert {x.status for x in found if x.run_id != poison.run_id} == {"succeeded"}
    assert len({x.run_id for x in found}) == 9
    alerts = [decode(f) for _, f in await r.xrange(keys.alerts_stream)]
    assert len(alerts) == 1 and isinstance(alerts[0], AlertRaised)
    assert alerts[0].labels["task"] == "poison"
    assert await r.xlen(keys.dead) == 1
    assert dead.attempt == int(await r.get(keys.attempts(poison.run_id)) or 0) == 3
    assert await pending_count(r, keys) == 0


async def test_resource_group_excludes_runs_across_two_processes(
    r: Redis, keys: Keys, spawn: Spawn
) -> None:
    settings = {"max_concurrent": 1, "resource_groups": {"database": 1}}
    procs = [spawn("g", **settings), spawn("g", **settings)]

    async def both_started() -> bool:  # a slow start would let one process take all four
        return await r.zcard(keys.executors) == 2

    await wait_for(both_started, 20, "both executors started")
    for _ in range(4):
        due = make_due("t_exclusive", params={"seconds": 0.3}, resources=["database"])
        await publish_due(r, keys, due)
    done = await wait_results(r, keys, 4, timeout_s=20)
    assert {x.status for x in done} == {"succeeded"}
    spans = [v.decode().split(":") for v in await r.lrange(f"{keys.ns}:test:overlap", 0, -1)]
    assert [active for active, _ in spans] == ["1"] * 4
    assert {int(pid) for _, pid in spans} == {p.proc.pid for p in procs}


async def test_sigterm_finishes_in_flight_within_grace_and_leaves_the_rest(
    r: Redis, keys: Keys, spawn: Spawn
) -> None:
    first = spawn("t", max_concurrent=2, grace_period=1.5)
    short, long = (
        make_due(params={"seconds": 0.8}),
        make_due(params={"seconds": 5.0}),
    )  # far past the grace, even on a loaded machine
    await publish_due(r, keys, short)
    await publish_due(r, keys, long)
    await wait_for(lambda: _pending_at_least(r, keys, 2), 10, "both runs to start")
    first.signal(signal.SIGTERM)
    assert await first.wait_exit(timeout_s=6) == 0
    assert [x.run_id for x in await results(r, keys)] == [short.run_id]
    assert await pending_count(r, keys) == 1  # the long run: unacked, not lost
    spawn("t")
    await wait_results(r, keys, 2, timeout_s=15)
    found = await results(r, keys)
    assert sorted(x.run_id for x in found) == sorted([short.run_id, long.run_id])
    assert {x.status for x in found} == {"succeeded"}
    assert await pending_count(r, keys) == 0


async def _pending_at_least(r: Redis, keys: Keys, n: int) -> bool:
    return await pending_count(r, keys) >= n
