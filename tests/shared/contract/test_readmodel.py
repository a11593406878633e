"""Read-model records: each survives a round trip through a real Redis hash, and the
schedule state's fields are split between writers with no field owned twice."""

from __future__ import annotations

from typing import Any

import pytest

from shared.contract.codec import event_body
from shared.contract.events import TaskResult
from shared.contract.keys import Keys
from shared.contract.readmodel import (
    BUCKET_LABELS,
    STATE_WRITERS,
    DailyMetrics,
    ExecutorBeat,
    ResultRecord,
    RunProgress,
    ScheduleState,
    bucket_for,
)
from shared.contract.records import RecordError
from shared.runtime.redis import Redis

RESULT = TaskResult(
    run_id="backup:1", task="backup", handler="backup", attempt=2, trigger="retry",
    scheduled_for=1.5, status="failed", started_at=2.0, finished_at=9.25, duration_s=7.25,
    executor="e1", message="disk full", details={"files": [1, 2]},
    error={"type": "OSError", "message": "disk full"}, metrics={"bytes_freed": 0},
)  # fmt: skip


async def _through_redis(r: Redis, key: str, fields: dict[str, Any]) -> dict[Any, Any]:
    await r.hset(key, mapping=fields)
    stored: dict[Any, Any] = await r.hgetall(key)
    return stored


async def test_result_record_round_trip(r: Redis, keys: Keys) -> None:
    record = ResultRecord.of(RESULT)
    back = ResultRecord.from_fields(
        await _through_redis(r, keys.result("backup:1"), record.to_fields())
    )
    assert back == record
    assert back.body() == event_body(RESULT)
    assert (back.attempt, back.duration_s, back.trigger) == (2, 7.25, "retry")


async def test_result_pairs_are_the_record_fields(r: Redis, keys: Keys) -> None:
    """The reporter writes ``pairs_of`` (no record built): the same hash as ``of``."""
    event = ResultRecord.of(RESULT).event
    await r.hset(keys.result("a"), mapping=ResultRecord.of(RESULT).to_fields())  # type: ignore[arg-type]
    await r.hset(keys.result("b"), items=ResultRecord.pairs_of(RESULT, event=event))
    assert await r.hgetall(keys.result("b")) == await r.hgetall(keys.result("a"))
    plain = TaskResult(**{**event_body(RESULT), "message": ""})  # a default, a falsy value
    pairs = ResultRecord.pairs_of(plain, event=b"")
    assert (
        dict(zip(pairs[::2], pairs[1::2], strict=True))
        == ResultRecord.of(plain, event=b"").to_fields()
    )


async def test_schedule_state_round_trip(r: Redis, keys: Keys) -> None:
    full = ScheduleState(
        fired_at=10.5, fired_slot="1800000000000", fired_run_id="a:1800000000000", paused=True,
        sched_results=4, sched_successes=3, sched_status="failed", sched_finished_at=11.0,
        sched_success_at=9.0, runs=6, successes=3, failures=3, consecutive_failures=2,
        last_run_id="a:1", last_status="failed", last_run_at=11.0, last_success_at=9.0,
        last_error='{"type": "X"}',
    )  # fmt: skip
    back = ScheduleState.from_fields(
        await _through_redis(r, keys.schedule_state("a"), full.to_fields())
    )
    assert back == full
    assert back.success_rate() == 0.75
    assert ScheduleState.from_fields({}) == ScheduleState()
    assert ScheduleState().success_rate() is None
    assert ScheduleState.from_fields({b"paused": b"0"}).paused is False


async def test_daily_metrics_round_trip(r: Redis, keys: Keys) -> None:
    metrics = DailyMetrics(
        runs=3, duration_sum=9.5, duration_max=7.0, statuses={"succeeded": 1, "failed": 2},
        buckets={"le_5": 2, "le_15": 1}, totals={"bytes_freed": 3072.0},
    )  # fmt: skip
    key = keys.metrics("a", "20270115")
    assert (
        DailyMetrics.from_fields(await _through_redis(r, key, dict(metrics.to_fields()))) == metrics
    )
    assert DailyMetrics.from_fields({b"runs": b"1", b"someone_elses": b"x"}).runs == 1


async def test_executor_beat_round_trip(r: Redis, keys: Keys) -> None:
    beat = ExecutorBeat(id="e1", host="h", pid=42, started_at=1.0, last_beat=2.5, inflight=3,
                        max_concurrent=4)  # fmt: skip
    assert (
        ExecutorBeat.from_fields(await _through_redis(r, keys.executor("e1"), beat.to_fields()))
        == beat
    )


async def test_run_progress_round_trip_keeps_an_unknown_total_unknown(r: Redis, keys: Keys) -> None:
    key = keys.run_progress("a:1")
    known = RunProgress(done=30, total=120, percent=25.0, note="copying", updated_at=5.0,
                        executor="e1")  # fmt: skip
    assert RunProgress.from_fields(await _through_redis(r, key, known.to_fields())) == known
    # a later write without a total must clear the stored one, not leave it behind
    unknown = RunProgress(done=31, updated_at=6.0, executor="e1")
    back = RunProgress.from_fields(await _through_redis(r, key, unknown.to_fields()))
    assert back == unknown and back.total is None and back.percent is None


def test_a_hash_missing_a_required_field_is_a_named_error() -> None:
    with pytest.raises(RecordError, match="ExecutorBeat: missing host, pid"):
        ExecutorBeat.from_fields({b"id": b"e1", b"started_at": b"1", b"last_beat": b"1",
                                  b"inflight": b"0", b"max_concurrent": b"1"})  # fmt: skip
    with pytest.raises(RecordError, match=r"ScheduleState.runs: cannot read b'many'"):
        ScheduleState.from_fields({b"runs": b"many"})


def test_every_schedule_state_field_has_exactly_one_writer() -> None:
    owned = [field for fields in STATE_WRITERS.values() for field in fields]
    assert len(owned) == len(set(owned)), "a field is claimed by two writers"
    assert set(owned) == set(ScheduleState.field_names())


def test_histogram_labels_are_the_bucket_fields() -> None:
    assert [bucket_for(d) for d in (0.05, 0.1, 0.11, 59, 61, 5000)] == [
        "le_0.1", "le_0.1", "le_0.5", "le_60", "le_300", "le_inf",
    ]  # fmt: skip
    assert {bucket_for(b) for b in (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 1e9)} == set(
        BUCKET_LABELS
    )
