"""Every stream reader dead-letters bad entries, acks them, and reads on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgpack
import pytest

from services.executor.service import Executor
from services.reporter.service import Reporter
from services.scheduler.service import Scheduler
from shared.config import taskdefs
from shared.config.models import Config, TaskConfig
from shared.contract.codec import encode
from shared.contract.events import TaskDue, TaskPaused, TaskResult, TriggerRun
from shared.contract.keys import EXECUTORS_GROUP, REPORTER_GROUP, SCHEDULER_GROUP, Keys
from shared.runtime.redis import Entry, Redis, client, dead_letter, text
from tests.support.proxy import FaultProxy

BAD_ENTRIES: list[tuple[dict[str, Any], str]] = [
    ({"type": "task.due", "v": "1", "body": b"\xc1\xc1\xc1"}, "not valid msgpack"),
    ({"type": "task.due", "v": "9", "body": msgpack.packb({})}, "unsupported schema version '9'"),
    ({"type": "what.ever", "v": "1", "body": msgpack.packb({})}, "unknown event type"),
    ({"type": "task.due", "v": "1", "body": msgpack.packb({"run_id": 1})}, "should be str"),
    ({"type": "task.due", "v": "1", "body": b"\x91" + b"\xa1x" * 140_000}, "above the"),
    (encode(TaskPaused(task="x")), "control.paused does not belong on "),  # same words everywhere
]


def _due(ns_task: str) -> TaskDue:
    return TaskDue(
        run_id=f"{ns_task}:1", task=ns_task, handler="system_health_check",
        params={"cpu_sample_s": 0.05}, trigger="manual", scheduled_for=1.0, emitted_at=1.0,
        attempt=1, max_attempts=1, timeout_s=30.0, priority="normal",
    )  # fmt: skip


def _result(task: str) -> TaskResult:
    return TaskResult(
        run_id=f"{task}:1", task=task, handler="h", attempt=1, trigger="manual",
        scheduled_for=1.0, status="succeeded", started_at=1.0, finished_at=2.0,
        duration_s=1.0, executor="x",
    )  # fmt: skip


async def _assert_dead_lettered(r: Redis, keys: Keys, stream: str, group: str) -> None:
    dead = await r.xrange(keys.dead)
    reasons = [fields[b"reason"].decode() for _, fields in dead]
    for (_, expected), reason in zip(BAD_ENTRIES, reasons, strict=True):
        assert expected in reason
    assert all(fields[b"source"].decode() == stream for _, fields in dead)
    pending = await r.xpending(stream, group)
    assert pending["pending"] == 0


async def _feed(r: Redis, stream: str, good: dict[str, Any]) -> None:
    for fields, _ in BAD_ENTRIES:
        await r.xadd(stream, fields)
    await r.xadd(stream, good)


async def _drain(step: Callable[[], Awaitable[int]]) -> None:
    for _ in range(10):
        if not await step():
            return


async def test_scheduler_dead_letters_and_keeps_consuming(r: Redis, keys: Keys) -> None:
    config = Config(namespace=keys.ns, tasks={"hc": TaskConfig(handler="system_health_check")})
    await taskdefs.apply(r, keys, config)
    scheduler = Scheduler(r, config)
    await scheduler.start()
    await _feed(r, keys.triggers, encode(TriggerRun(task="hc")))  # type: ignore[arg-type]
    await _drain(lambda: scheduler.run_once(block_ms=None))
    await _assert_dead_lettered(r, keys, keys.triggers, SCHEDULER_GROUP)
    assert await r.xlen(keys.due("normal")) == 1


async def test_reporter_dead_letters_and_keeps_consuming(r: Redis, keys: Keys) -> None:
    reporter = Reporter(r, Config(namespace=keys.ns))
    await reporter.start()
    await _feed(r, keys.results, encode(_result("good")))  # type: ignore[arg-type]
    await _drain(lambda: reporter.run_once(block_ms=None))
    await _assert_dead_lettered(r, keys, keys.results, REPORTER_GROUP)
    assert (await r.hgetall(keys.result("good:1")))[b"status"] == b"succeeded"


async def test_executor_dead_letters_and_keeps_consuming(r: Redis, keys: Keys) -> None:
    executor = Executor(r, Config(namespace=keys.ns))
    await executor.start()
    await _feed(r, keys.due("normal"), encode(_due("good")))  # type: ignore[arg-type]
    for _ in range(3):  # four slots: the bad entries come in two batches
        await executor.run_once(block_ms=10)
    await executor.drain(10)
    await _assert_dead_lettered(r, keys, keys.due("normal"), EXECUTORS_GROUP)
    results = await r.xrange(keys.results)
    assert len(results) == 1


@pytest.mark.parametrize("task", ["nope"])
async def test_unknown_task_trigger_is_dead_lettered_with_reason(
    r: Redis, keys: Keys, task: str
) -> None:
    config = Config(namespace=keys.ns)
    scheduler = Scheduler(r, config)
    await scheduler.start()
    await r.xadd(keys.triggers, encode(TriggerRun(task=task)))  # type: ignore[arg-type]
    await scheduler.run_once(block_ms=None)
    ((_, fields),) = await r.xrange(keys.dead)
    assert fields[b"reason"] == b"unknown task 'nope'"
    assert await r.xlen(keys.due("normal")) == 0


async def test_a_dead_letter_retried_after_a_lost_reply_is_one_record(
    r: Redis, keys: Keys, redis_url: str
) -> None:
    """Redis wrote the record and acked the entry, the reply was cut: the client's retry
    finds the entry acked and writes nothing more (one record, one count)."""
    proxy = await FaultProxy.before(redis_url).start()
    via = client(proxy.url)
    try:
        await r.xgroup_create(keys.triggers, SCHEDULER_GROUP, id="0", mkstream=True)
        await r.xadd(keys.triggers, {"type": "trigger.run", "v": "1", "body": b"\xc1"})
        [(_, [(entry_id, fields)])] = await r.xreadgroup(SCHEDULER_GROUP, "t", {keys.triggers: ">"})
        entry = Entry(keys.triggers, text(entry_id), fields)
        proxy.cut_reply_to(b"EVALSHA")
        assert await dead_letter(via, keys, entry, SCHEDULER_GROUP, "bad", reader="t") is False
        assert await r.xlen(keys.dead) == 1  # the first call's record, not a second
        assert await r.hget(keys.counter("dead_lettered"), "t") == b"1"
        assert (await r.xpending(keys.triggers, SCHEDULER_GROUP))["pending"] == 0
        # and a second reader of an entry already handled writes nothing either
        assert await dead_letter(r, keys, entry, SCHEDULER_GROUP, "bad", reader="t") is False
        assert await r.xlen(keys.dead) == 1
    finally:
        await via.aclose()
        await proxy.stop()
