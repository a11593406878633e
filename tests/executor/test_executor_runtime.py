"""The executor in-process on real Redis: attempt protocol, slots, order, liveness."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from services.executor.service import Executor
from shared.contract.codec import decode
from shared.contract.events import AlertRaised
from shared.contract.keys import EXECUTORS_GROUP, Keys
from shared.runtime.redis import Redis
from tests.executor.executor_support import (
    make_config,
    make_due,
    pending_count,
    publish_due,
    results,
    wait_for,
    wait_results,
)

MakeExecutor = Callable[..., Executor]


@pytest.fixture
async def make_executor(r: Redis, keys: Keys, tmp_path: Path) -> AsyncIterator[MakeExecutor]:
    """Started executors on the test's namespace; their runs are cancelled afterwards."""
    made: list[Executor] = []

    def make(**settings: Any) -> Executor:
        executor = Executor(r, make_config(keys, tmp_path, **settings))
        made.append(executor)
        return executor

    yield make
    for executor in made:
        await executor.drain(0)


async def started(make: MakeExecutor, **settings: Any) -> Executor:
    executor = make(**settings)
    await executor.start()
    return executor


async def serve_until(executor: Executor, done: Callable[[], Any], timeout_s: float) -> None:
    """Drive ``run_once`` until ``done()`` (async) is truthy."""

    async def step() -> Any:
        await executor.run_once(block_ms=20)
        return await done()

    await wait_for(step, timeout_s, "executor work", every_s=0)


async def test_timeout_becomes_timed_out_and_is_acked(
    r: Redis, keys: Keys, make_executor: MakeExecutor
) -> None:
    executor = await started(make_executor)
    due = make_due(params={"seconds": 5}, timeout_s=0.2)
    await publish_due(r, keys, due)
    await executor.run_once(block_ms=20)
    [result] = await wait_results(r, keys, 1, timeout_s=3)
    assert (result.run_id, result.status) == (due.run_id, "timed_out")
    assert result.error == {"type": "TimeoutError", "message": "timed out after 0.2 s"}
    assert 0.15 < result.duration_s < 1.5
    assert result.executor == executor.id
    assert await pending_count(r, keys) == 0
    assert int(await r.get(keys.attempts(due.run_id)) or 0) == 1


async def test_past_deadline_is_skipped_without_running(
    r: Redis, keys: Keys, make_executor: MakeExecutor
) -> None:
    executor = await started(make_executor)
    due = make_due(params={"seconds": 5}, deadline=time.time() - 1)
    await publish_due(r, keys, due)
    await executor.run_once(block_ms=20)
    [result] = await wait_results(r, keys, 1, timeout_s=2)
    assert result.status == "skipped"
    assert "deadline" in result.message
    assert result.duration_s < 0.5


async def test_unknown_handler_is_a_failed_result_not_a_crash(
    r: Redis, keys: Keys, make_executor: MakeExecutor
) -> None:
    executor = await started(make_executor)
    await publish_due(r, keys, make_due("no_such_handler"))
    await publish_due(r, keys, make_due(params={"seconds": 0}))
    await serve_until(executor, lambda: _count_at_least(r, keys, 2), 5)
    by_handler = {x.handler: x for x in await results(r, keys)}
    failed = by_handler["no_such_handler"]
    assert failed.status == "failed"
    assert failed.error is not None and failed.error["type"] == "UnknownHandler"
    assert "no_such_handler" in failed.message
    assert by_handler["t_sleep"].status == "succeeded"


async def test_bad_params_name_the_field(r: Redis, keys: Keys, make_executor: MakeExecutor) -> None:
    executor = await started(make_executor)
    await publish_due(r, keys, make_due(params={"seconds": "soon"}))
    await executor.run_once(block_ms=20)
    [result] = await wait_results(r, keys, 1)
    assert result.status == "failed"
    assert result.message.startswith("params.seconds")


async def _count_at_least(r: Redis, keys: Keys, n: int) -> bool:
    return len(await results(r, keys)) >= n


async def test_never_takes_more_entries_than_free_slots(
    r: Redis, keys: Keys, make_executor: MakeExecutor
) -> None:
    executor = await started(make_executor, max_concurrent=2)
    for _ in range(5):
        await publish_due(r, keys, make_due(params={"seconds": 0.4}))
    assert await executor.run_once(block_ms=20) == 2
    assert await executor.run_once(block_ms=20) == 0
    assert len(executor.inflight) == 2
    assert await pending_count(r, keys) == 2  # the other three were never delivered
    await serve_until(executor, lambda: _count_at_least(r, keys, 5), 10)
    assert {x.status for x in await results(r, keys)} == {"succeeded"}


async def test_most_urgent_priority_runs_first_under_backlog(
    r: Redis, keys: Keys, make_executor: MakeExecutor
) -> None:
    executor = await started(make_executor, max_concurrent=1)
    order = ["low", "normal", "high", "critical", "low", "critical"]
    for priority in order:
        await publish_due(r, keys, make_due(priority=priority, task=priority))
    await serve_until(executor, lambda: _count_at_least(r, keys, len(order)), 10)
    ran = [x.task for x in sorted(await results(r, keys), key=lambda x: x.started_at)]
    assert ran == ["critical", "critical", "high", "normal", "low", "low"]


async def test_progress_is_visible_while_running_and_removed_after(
    r: Redis, keys: Keys, make_executor: MakeExecutor
) -> None:
    executor = await started(make_executor)
    due = make_due(params={"seconds": 1.0})
    await publish_due(r, keys, due)
    await executor.run_once(block_ms=20)

    async def progress() -> dict[bytes, bytes]:
        return await r.hgetall(keys.run_progress(due.run_id))  # type: ignore[no-any-return]

    seen = await wait_for(progress, 3, "progress hash")
    assert seen[b"total"] == b"10"
    assert seen[b"executor"] == executor.id.encode()
    [result] = await wait_results(r, keys, 1, timeout_s=5)
    assert result.status == "succeeded"
    assert result.metrics == {"items_processed": 1}
    assert not await r.exists(keys.run_progress(due.run_id))


async def test_resource_guard_defers_normal_but_never_critical(
    r: Redis, keys: Keys, make_executor: MakeExecutor
) -> None:
    executor = await started(make_executor, defer_memory_above=0.5)  # always "busy"
    await publish_due(r, keys, make_due(priority="normal", task="normal"))
    await publish_due(r, keys, make_due(priority="critical", task="critical"))
    await publish_due(r, keys, make_due(priority="high", task="high"))
    assert await executor.run_once(block_ms=20) == 2
    done = await wait_results(r, keys, 2)
    assert {x.task for x in done} == {"critical", "high"}
    assert await r.xlen(keys.due("normal")) == 1
    assert await pending_count(r, keys) == 0  # the normal entry was never read


async def test_late_ack_after_takeover_is_ignored_and_logged(
    r: Redis, keys: Keys, make_executor: MakeExecutor
) -> None:
    frozen = await started(make_executor, visibility_timeout=0.2)
    rescuer = await started(make_executor, visibility_timeout=0.2)
    due = make_due(params={"seconds": 0.6})
    await publish_due(r, keys, due)
    with capture_logs() as logs:
        await frozen.run_once(block_ms=20)  # no liveness loop: its entry goes idle
        await wait_for(rescuer.reclaim_once, 3, "reclaim")
        await wait_for(lambda: _idle(frozen, rescuer), 5, "both runs to finish")
    [result] = await results(r, keys)
    assert (result.run_id, result.executor) == (due.run_id, rescuer.id)
    assert any(e["event"] == "run.late_ack_ignored" for e in logs)
    assert await pending_count(r, keys) == 0
    assert int(await r.get(keys.attempts(due.run_id)) or 0) == 2


async def _idle(*executors: Executor) -> bool:
    return not any(e.inflight for e in executors)


async def test_liveness_keeps_a_long_run_from_being_reclaimed(
    r: Redis, keys: Keys, make_executor: MakeExecutor
) -> None:
    owner = make_executor(visibility_timeout=0.3, heartbeat_interval=0.05)
    thief = await started(make_executor, visibility_timeout=0.3)
    due = make_due(params={"seconds": 1.2})
    await publish_due(r, keys, due)
    stop = asyncio.Event()
    serving = asyncio.create_task(owner.run(stop))
    await wait_for(lambda: pending_count(r, keys), 3, "the run to start")
    assert await r.exists(keys.executor(owner.id))
    for _ in range(10):  # 1 s of steal attempts, each past the visibility timeout
        assert await thief.reclaim_once() == 0
        await asyncio.sleep(0.1)
    [result] = await wait_results(r, keys, 1, timeout_s=5)
    stop.set()
    await asyncio.wait_for(serving, 5)
    assert result.executor == owner.id
    assert not await r.exists(keys.executor(owner.id))  # a clean stop removes the heartbeat


async def test_over_delivered_entry_is_dead_lettered_once_with_an_alert(
    r: Redis, keys: Keys, make_executor: MakeExecutor
) -> None:
    executor = await started(make_executor, visibility_timeout=0.1, max_deliveries=1)
    due = make_due(params={"seconds": 0})
    entry_id = await publish_due(r, keys, due)
    # A consumer that takes the entry and dies (delivery 1).
    await r.xreadgroup(EXECUTORS_GROUP, "ghost", {keys.due("normal"): ">"}, count=1)
    await asyncio.sleep(0.15)
    assert await executor.reclaim_once() == 0  # delivery 2 > max_deliveries 1
    [result] = await results(r, keys)
    assert (result.run_id, result.status) == (due.run_id, "dead_lettered")
    assert result.error is not None and result.error["type"] == "DeadLettered"
    [(_, dead)] = await r.xrange(keys.dead)
    assert dead[b"source_id"] == entry_id.encode()
    assert b"delivered 2 times" in dead[b"reason"]
    alerts = [decode(f) for _, f in await r.xrange(keys.alerts_stream)]
    assert len(alerts) == 1 and isinstance(alerts[0], AlertRaised)
    assert alerts[0].labels["run_id"] == due.run_id
    assert await pending_count(r, keys) == 0
    assert await executor.reclaim_once() == 0
    assert len(await results(r, keys)) == 1


async def test_reclaim_survives_entries_deleted_by_trimming(
    r: Redis, keys: Keys, make_executor: MakeExecutor
) -> None:
    executor = await started(make_executor, visibility_timeout=0.1)
    gone, kept = make_due(params={"seconds": 0}), make_due(params={"seconds": 0})
    gone_id = await publish_due(r, keys, gone)
    await publish_due(r, keys, kept)
    await r.xreadgroup(EXECUTORS_GROUP, "ghost", {keys.due("normal"): ">"}, count=2)
    await r.xdel(keys.due("normal"), gone_id)
    await asyncio.sleep(0.15)
    with capture_logs() as logs:
        assert await executor.reclaim_once() == 1
    [result] = await wait_results(r, keys, 1)
    assert result.run_id == kept.run_id
    deleted = [e for e in logs if e["event"] == "reclaim.deleted_entries"]
    assert deleted and deleted[0]["ids"] == [gone_id]
    assert await pending_count(r, keys) == 0


async def test_max_instances_bounds_runs_of_a_task(
    r: Redis, keys: Keys, make_executor: MakeExecutor
) -> None:
    executor = await started(make_executor, max_concurrent=3)
    for _ in range(3):
        await publish_due(r, keys, make_due("t_exclusive", params={"seconds": 0.2,
                                            "group": "x"}, max_instances=1))  # fmt: skip
    await serve_until(executor, lambda: _count_at_least(r, keys, 3), 10)
    overlap = [v.split(b":")[0] for v in await r.lrange(f"{keys.ns}:test:overlap", 0, -1)]
    assert overlap == [b"1", b"1", b"1"]
    assert {x.status for x in await results(r, keys)} == {"succeeded"}


async def test_waiting_for_a_lease_past_the_deadline_skips(
    r: Redis, keys: Keys, make_executor: MakeExecutor
) -> None:
    executor = await started(make_executor, resource_groups={"database": 1})
    await r.zadd(f"{keys.ns}:semaphore:group:database", {"someone-else": time.time() * 2000})
    due = make_due(resources=["database"], deadline=time.time() + 0.3)
    await publish_due(r, keys, due)
    await executor.run_once(block_ms=20)
    [result] = await wait_results(r, keys, 1, timeout_s=3)
    assert result.status == "skipped"
    assert "concurrency limit" in result.message


async def test_consumers_of_dead_executors_are_forgotten(
    r: Redis, keys: Keys, make_executor: MakeExecutor
) -> None:
    executor = await started(make_executor, visibility_timeout=0.1)
    stream = keys.due("normal")
    for consumer in ("ghost-idle", "ghost-owner", "alive-idle"):
        await publish_due(r, keys, make_due())
        reply = await r.xreadgroup(EXECUTORS_GROUP, consumer, {stream: ">"}, count=1)
        if consumer != "ghost-owner":
            await r.xack(stream, EXECUTORS_GROUP, reply[0][1][0][0])
    await r.set(keys.executor("alive-idle"), "1")  # a live executor's heartbeat
    await asyncio.sleep(0.35)
    assert await executor.forget_dead_consumers() == ["ghost-idle"]
    names = {c["name"].decode() for c in await r.xinfo_consumers(stream, EXECUTORS_GROUP)}
    assert names == {"ghost-owner", "alive-idle"}
