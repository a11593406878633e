"""The scheduler's triggers stream admits triggers only, and each entry is handled alone."""

from __future__ import annotations

from typing import Any

import pytest

from shared.contract.codec import MAX_BODY_BYTES, encode, pack
from shared.contract.events import (
    Event,
    TaskChanged,
    TaskDue,
    TaskPaused,
    TaskResult,
    TriggerRun,
)
from shared.contract.keys import SCHEDULER_GROUP, Keys
from shared.runtime.clock import FakeClock
from shared.runtime.redis import Redis
from tests.scheduler.sched_support import T0, dues, make, result_of

TASK = {"params": {"argv": ["true"]}}

STRANGERS: dict[str, Event] = {
    "paused": TaskPaused(task="hc", reason="forged"),
    "result": TaskResult(
        run_id="hc:1", task="hc", handler="command", attempt=1, trigger="manual",
        scheduled_for=T0, status="succeeded", started_at=T0, finished_at=T0,
        duration_s=0.0, executor="forger",
    ),
    "due": TaskDue(
        run_id="hc:2", task="hc", handler="command", params={}, trigger="manual",
        scheduled_for=T0, emitted_at=T0, attempt=1, max_attempts=1, timeout_s=5.0,
        priority="normal",
    ),
    "task_changed": TaskChanged(task="hc", deleted=True),
}  # fmt: skip


async def _dead(r: Redis, keys: Keys) -> list[dict[bytes, bytes]]:
    return [fields for _, fields in await r.xrange(keys.dead)]


@pytest.mark.parametrize("name", list(STRANGERS))
async def test_an_event_on_the_wrong_stream_is_dead_lettered_and_has_no_effect(
    r: Redis, keys: Keys, name: str
) -> None:
    s = await make(r, keys, FakeClock(T0), {"hc": TASK})
    event = STRANGERS[name]
    await r.xadd(keys.triggers, encode(event))  # type: ignore[arg-type]
    await r.xadd(keys.triggers, encode(TriggerRun(task="hc")))  # type: ignore[arg-type]
    await s.run_once()
    await s.run_once()

    (dead,) = await _dead(r, keys)
    assert dead[b"reason"].decode() == f"{event.TYPE} does not belong on {keys.triggers}"
    assert (await r.xpending(keys.triggers, SCHEDULER_GROUP))["pending"] == 0
    assert not await r.sismember(keys.schedule_paused, "hc")
    assert await r.hget(keys.schedule_state("hc"), "sched_results") is None
    assert "hc" in s.rt.tasks  # a forged deletion was not applied
    assert [d.task for d in await dues(r, keys)] == ["hc"]  # the real trigger ran


async def test_a_trigger_whose_run_would_be_too_large_is_refused_alone(
    r: Redis, keys: Keys
) -> None:
    s = await make(
        r, keys, FakeClock(T0), {"hc": {**TASK, "max_instances": 3, "overridable_params": ["pad"]}}
    )
    oversize = _trigger_of_size(MAX_BODY_BYTES - 74)  # 262,070 bytes: decodes fine
    assert len(oversize["body"]) == 262_070
    await r.xadd(keys.triggers, oversize)
    for n in range(3):
        good = TriggerRun(task="hc", reason=f"good {n}")
        await r.xadd(keys.triggers, encode(good))  # type: ignore[arg-type]
    await s.run_once()

    assert sorted(d.reason or "" for d in await dues(r, keys)) == ["good 0", "good 1", "good 2"]
    (dead,) = await _dead(r, keys)
    reason = dead[b"reason"].decode()
    assert reason.startswith("task.due body is ")
    assert f"above the {MAX_BODY_BYTES}-byte limit" in reason
    assert (await r.xpending(keys.triggers, SCHEDULER_GROUP))["pending"] == 0


def _trigger_of_size(size: int) -> dict[str, Any]:
    """A trigger.run entry whose msgpack body is exactly ``size`` bytes (> 64 KiB)."""

    def body(pad: int) -> bytes:
        return pack({"task": "hc", "params": {"pad": "x" * pad}})

    overhead = len(body(70_000)) - 70_000  # constant for every str32-sized pad
    return {"type": TriggerRun.TYPE, "v": "1", "body": body(size - overhead)}


async def test_lost_groups_are_recreated_and_new_triggers_answered(r: Redis, keys: Keys) -> None:
    s = await make(r, keys, FakeClock(T0), {"hc": TASK})
    await r.delete(keys.triggers, keys.results)  # e.g. evicted, or Redis restarted empty
    await r.xadd(keys.triggers, encode(TriggerRun(task="hc")))  # type: ignore[arg-type]
    await s.run_once()
    assert [d.task for d in await dues(r, keys)] == ["hc"]
    for stream in (keys.triggers, keys.results):
        assert [g["name"] for g in await r.xinfo_groups(stream)] == [SCHEDULER_GROUP.encode()]


async def test_a_read_of_triggers_only_lets_the_timer_sleep_and_a_result_wakes_it(
    r: Redis, keys: Keys
) -> None:
    s = await make(r, keys, FakeClock(T0), {"hc": TASK})
    await s.run_once()  # leads
    s.wake.clear()
    await r.xadd(keys.triggers, encode(TriggerRun(task="hc")))  # type: ignore[arg-type]
    await s._event_step()
    (due,) = await dues(r, keys)
    assert not s.wake.is_set()  # a manual run moves no next fire: nothing to look at again
    await r.xadd(keys.results, encode(result_of(due, "failed", T0)))  # type: ignore[arg-type]
    await s._event_step()
    assert s.wake.is_set()
