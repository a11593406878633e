"""Each writer of ``schedule:state:<task>``, driven for real, writes only its own fields."""

from __future__ import annotations

from services.reporter.service import Reporter
from shared.contract.codec import encode
from shared.contract.events import TaskPaused
from shared.contract.keys import Keys
from shared.contract.readmodel import (
    STATE_WRITERS,
    ControlField,
    FiredField,
    RunTallyField,
    SchedTallyField,
)
from shared.runtime.clock import FakeClock
from shared.runtime.redis import Redis, text
from tests.scheduler.sched_support import T0, dues, make, publish_result, result_of


async def _fields(r: Redis, keys: Keys, task: str) -> set[str]:
    """The fields of ``task``'s state hash, which is then emptied for the next writer."""
    names = {text(f) for f in await r.hkeys(keys.schedule_state(task))}
    await r.delete(keys.schedule_state(task))
    return names


async def test_each_writer_writes_only_the_fields_it_owns(r: Redis, keys: Keys) -> None:
    assert set(STATE_WRITERS.values()) == {FiredField, ControlField, SchedTallyField, RunTallyField}
    clock = FakeClock(T0 - 1)
    s = await make(
        r, keys, clock, {"a": {"schedule": {"every": "1h"}, "params": {"argv": ["true"]}}}
    )
    await s.run_once()
    clock.advance(1)
    await s.run_once()
    (due,) = await dues(r, keys)
    assert await _fields(r, keys, "a") == set(FiredField)

    await r.xadd(keys.control, encode(TaskPaused(task="a")))  # type: ignore[arg-type]
    await s.run_once()
    assert await _fields(r, keys, "a") == set(ControlField)

    await publish_result(r, keys, due, "succeeded", clock.time())
    await s.run_once()
    assert await _fields(r, keys, "a") == set(SchedTallyField)

    reporter = Reporter(r, s.config)
    await reporter.record(result_of(due, "failed", clock.time()))
    await reporter.record(result_of(due, "succeeded", clock.time(), attempt=2))
    assert await _fields(r, keys, "a") == set(RunTallyField)
