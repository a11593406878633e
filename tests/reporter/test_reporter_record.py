"""The reporter's read model: written once per run and attempt, counters add up."""

from __future__ import annotations

import asyncio

import msgpack
import pytest
from structlog.testing import capture_logs

from services.reporter.record import day_of
from services.reporter.service import RECORD_PART, Reporter
from shared.config.models import Config
from shared.contract.codec import encode
from shared.contract.events import TaskResult
from shared.contract.keys import REPORTER_GROUP, Keys
from shared.runtime.redis import Redis


def _result(
    n: int, status: str = "succeeded", attempt: int = 1, duration: float = 2.0
) -> TaskResult:
    return TaskResult(
        run_id=f"backup:{n}", task="backup", handler="command", attempt=attempt,
        trigger="schedule", scheduled_for=1_795_400_000.0, status=status,
        started_at=1_795_400_000.0, finished_at=1_795_400_000.0 + duration, duration_s=duration,
        executor="e1", metrics={"bytes_freed": 1024, "files_processed": 3},
        error=None if status == "succeeded" else {"type": "HandlerError", "message": "disk full"},
    )  # fmt: skip


async def test_result_hash_history_metrics_and_state(r: Redis, keys: Keys) -> None:
    reporter = Reporter(r, Config(namespace=keys.ns))
    await reporter.start()
    for event in (
        _result(1),
        _result(2, "failed", duration=7.0),
        _result(3, "failed", duration=0.3),
    ):
        await r.xadd(keys.results, encode(event))  # type: ignore[arg-type]
    assert await reporter.run_once(block_ms=None) == 3

    stored = await r.hgetall(keys.result("backup:2"))
    assert stored[b"status"] == b"failed"
    assert msgpack.unpackb(stored[b"event"])["error"]["message"] == "disk full"
    assert 0 < await r.ttl(keys.result("backup:2")) <= 30 * 86400
    assert await r.xlen(keys.history) == 3
    assert await r.xlen(keys.task_history("backup")) == 3

    metrics = await r.hgetall(keys.metrics("backup", day_of(1_795_400_002.0)))
    assert int(metrics[b"runs"]) == 3
    assert (int(metrics[b"succeeded"]), int(metrics[b"failed"])) == (1, 2)
    assert float(metrics[b"duration_sum"]) == 9.3
    assert float(metrics[b"duration_max"]) == 7.0
    assert float(metrics[b"bytes_freed"]) == 3072
    assert (
        int(metrics[b"le_5"]) == 1 and int(metrics[b"le_15"]) == 1 and int(metrics[b"le_0.5"]) == 1
    )

    state = await r.hgetall(keys.schedule_state("backup"))
    assert int(state[b"consecutive_failures"]) == 2
    assert (int(state[b"successes"]), int(state[b"failures"])) == (1, 2)
    assert state[b"last_status"] == b"failed"


async def test_redelivered_result_is_recorded_once(r: Redis, keys: Keys) -> None:
    reporter = Reporter(r, Config(namespace=keys.ns))
    await reporter.start()
    assert await reporter.record(_result(1)) is True
    assert await reporter.record(_result(1)) is False
    assert await reporter.record(_result(1, attempt=2)) is True
    assert await r.xlen(keys.history) == 2
    state = await r.hgetall(keys.schedule_state("backup"))
    assert int(state[b"runs"]) == 2


async def test_a_broken_key_costs_one_write_not_the_result(r: Redis, keys: Keys) -> None:
    reporter = Reporter(r, Config(namespace=keys.ns))
    await reporter.start()
    await r.set(keys.history, "not a stream")  # XADD to it will fail inside the script
    await r.xadd(keys.results, encode(_result(9)))  # type: ignore[arg-type]
    with capture_logs() as logs:
        assert await reporter.run_once(block_ms=None) == 1
    (partial,) = [e for e in logs if e["event"] == "reporter.writes_refused"]
    assert "WRONGTYPE" in partial["errors"][0]
    assert (await r.hgetall(keys.result("backup:9")))[b"status"] == b"succeeded"
    assert await r.xlen(keys.task_history("backup")) == 1
    assert (await r.xpending(keys.results, REPORTER_GROUP))["pending"] == 0


async def test_an_interrupted_batch_is_retried_from_the_pending_list(r: Redis, keys: Keys) -> None:
    reporter = Reporter(r, Config(namespace=keys.ns))
    await reporter.start()
    await r.xadd(keys.results, encode(_result(5)))  # type: ignore[arg-type]
    await r.xadd(keys.results, {"type": "task.result", "v": "1"})  # no body: dead-lettered
    await r.set(keys.dead, "blocks the dead-letter XADD")  # so the second entry raises
    try:
        await reporter.run_once(block_ms=None)
    except Exception as exc:
        assert "WRONGTYPE" in str(exc)
    else:
        raise AssertionError("the batch should have failed on the dead-letter write")
    await r.delete(keys.dead)
    # Acks are per batch: nothing of the failed one was acked, so both come back pending.
    assert await reporter.run_once(block_ms=None) == 2
    assert (await r.xpending(keys.results, REPORTER_GROUP))["pending"] == 0
    ((_, dead),) = await r.xrange(keys.dead)
    assert dead[b"reason"] == b"missing field 'body'"
    assert await r.xlen(keys.history) == 1  # the first result was not recorded twice


async def test_a_batch_is_recorded_in_one_call_each_result_once(r: Redis, keys: Keys) -> None:
    reporter = Reporter(r, Config(namespace=keys.ns))
    await reporter.start()
    assert await reporter.record(_result(1)) is True  # recorded before: a redelivery
    batch = [_result(1), _result(2), _result(3, status="failed"), _result(2)]
    calls_before = await _script_calls(r)
    recorded = await reporter.record_batch(batch)
    assert await _script_calls(r) - calls_before == 1  # one script for the whole batch
    assert [x.run_id for x in recorded] == ["backup:2", "backup:3"]  # repeats left out
    assert await r.xlen(keys.history) == 3
    state = await r.hgetall(keys.schedule_state("backup"))
    assert (int(state[b"runs"]), int(state[b"successes"]), int(state[b"failures"])) == (3, 2, 1)


async def test_the_loop_acks_a_recorded_batch_at_once(r: Redis, keys: Keys) -> None:
    reporter = Reporter(r, Config(namespace=keys.ns))
    await reporter.start()
    for result in (_result(4), _result(5), _result(4)):
        await r.xadd(keys.results, encode(result))  # type: ignore[arg-type]
    assert await reporter.run_once(block_ms=None) == 3
    assert (await r.xpending(keys.results, REPORTER_GROUP))["pending"] == 0
    assert await r.xlen(keys.history) == 2


async def test_a_long_read_is_recorded_in_short_script_calls(r: Redis, keys: Keys) -> None:
    """A script holds Redis alone: a read of many results is recorded RECORD_PART at a
    time, so an executor's critical take never waits behind a whole read's recording."""
    reporter = Reporter(r, Config(namespace=keys.ns))
    await reporter.start()
    n = 2 * RECORD_PART + 6
    async with r.pipeline(transaction=False) as pipe:
        for i in range(n):
            pipe.xadd(keys.results, encode(_result(i)))  # type: ignore[arg-type]
        await pipe.execute()
    calls_before = await _script_calls(r)
    assert await reporter.run_once(block_ms=None) == n
    assert await _script_calls(r) - calls_before == 3  # 32 + 32 + 6, each acking its own
    assert (await r.xpending(keys.results, REPORTER_GROUP))["pending"] == 0
    assert await r.xlen(keys.history) == n
    state = await r.hgetall(keys.schedule_state("backup"))
    assert int(state[b"runs"]) == n


async def _script_calls(r: Redis) -> int:
    stats = await r.info("commandstats")
    names = ("cmdstat_evalsha", "cmdstat_eval")
    return sum(int(stats.get(name, {}).get("calls", 0)) for name in names)


async def test_a_batch_writes_what_one_by_one_recording_writes(r: Redis, keys: Keys) -> None:
    """The batch sums its results' shares of the metrics, totals and state: the read model
    it leaves is the one recording them one at a time leaves."""
    results = [_result(1), _result(2, "failed", duration=7.0), _result(1),
               _result(3, "failed", attempt=2, duration=0.3), _result(4, "skipped"),
               _result(5, duration=12.0), _result(6, "timed_out", duration=0.01)]  # fmt: skip
    alone, batched = Keys(f"{keys.ns}a"), Keys(f"{keys.ns}b")
    for result in results:
        await Reporter(r, Config(namespace=alone.ns)).record(result)
    await Reporter(r, Config(namespace=batched.ns)).record_batch(results)

    day = day_of(1_795_400_000.0)
    for of in (lambda k: k.metrics("backup", day), lambda k: k.schedule_state("backup"),
               lambda k: k.totals):  # fmt: skip
        one, batch = await r.hgetall(of(alone)), await r.hgetall(of(batched))
        assert batch.keys() == one.keys()
        for name, value in one.items():
            if _number(value):  # sums in another order may differ in the last digit
                assert float(batch[name]) == pytest.approx(float(value), rel=1e-12), name
            else:
                assert batch[name] == value, name
    assert await r.xlen(batched.history) == await r.xlen(alone.history) == 6


def _number(raw: bytes) -> bool:
    try:
        float(raw)
    except ValueError:
        return False
    return True


async def test_a_running_reporter_reads_and_records_through_its_lanes_closed_at_stop(
    r: Redis, keys: Keys
) -> None:
    reporter, stop = Reporter(r, Config(namespace=keys.ns)), asyncio.Event()
    serving = asyncio.create_task(reporter.run(stop))
    reads, records = (f"{reporter.name}-{use}" for use in ("read", "record"))
    try:
        async with asyncio.timeout(10):
            while reads not in {c["name"] for c in await r.client_list()}:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        await r.xadd(keys.results, encode(_result(901)))  # type: ignore[arg-type]
        async with asyncio.timeout(10):
            while not await r.exists(keys.result("backup:901")):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        last = {c["name"]: c["cmd"] for c in await r.client_list()}
        assert last[records] == "evalsha"  # the recording script, acks included
        assert last[reads] == "xreadgroup"  # blocked, waiting for the next result
    finally:
        stop.set()
        await serving
    names = {c["name"] for c in await r.client_list()}
    assert reads not in names and records not in names
