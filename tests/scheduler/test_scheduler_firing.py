"""Schedules on real Redis with a fake clock: firing, misfire/catch-up, pause, cooldown."""

from __future__ import annotations

import pytest

from shared.contract.codec import encode
from shared.contract.events import TaskPaused, TaskResumed
from shared.contract.keys import Keys
from shared.runtime.clock import FakeClock
from shared.runtime.redis import Redis
from tests.scheduler.sched_support import T0, dues, make, outcomes, publish_result

EVERY_MIN = {"schedule": {"every": "1m"}, "params": {"argv": ["true"]}}


async def test_fires_each_slot_once_with_a_deterministic_run_id(r: Redis, keys: Keys) -> None:
    clock = FakeClock(T0 - 1)
    s = await make(r, keys, clock, {"a": EVERY_MIN})
    await s.run_once()
    assert await dues(r, keys) == []
    clock.advance(1)
    await s.run_once()
    await s.run_once()  # nothing new: the slot is marked fired and the schedule moved on
    (due,) = await dues(r, keys)
    assert due.run_id == f"a:{int(T0 * 1000)}"
    assert due.scheduled_for == T0 and due.trigger == "schedule"
    assert float(await r.zscore(keys.schedule_next, "a")) == T0 + 60
    assert (await outcomes(r, keys, "a"))[-1][0] == "fired"


@pytest.mark.parametrize(
    ("catch_up", "fired", "recorded"),
    [("coalesce", 1, "coalesced"), ("all", 3, None), ("skip", 0, "skipped")],
)
async def test_catch_up_after_an_outage(
    r: Redis, keys: Keys, catch_up: str, fired: int, recorded: str | None
) -> None:
    clock = FakeClock(T0 - 1)
    spec = {**EVERY_MIN, "catch_up": catch_up, "misfire_grace": "150s", "overlap": "allow"}
    s = await make(r, keys, clock, {"a": spec})
    await s.run_once()
    clock.advance(1 + 5 * 60)  # slots T0..T0+300 are due; only the last three are in grace
    await s.run_once()
    assert len(await dues(r, keys)) == fired
    found = [o for o, _ in await outcomes(r, keys, "a")]
    assert found[0] == "missed"
    assert found.count("fired") == fired
    if recorded:
        assert recorded in found
    assert float(await r.zscore(keys.schedule_next, "a")) == T0 + 360


async def test_pause_and_resume_through_the_control_stream(r: Redis, keys: Keys) -> None:
    clock = FakeClock(T0 - 1)
    s = await make(r, keys, clock, {"a": EVERY_MIN})
    await s.run_once()
    await r.xadd(keys.control, encode(TaskPaused(task="a", reason="maintenance")))  # type: ignore[arg-type]
    clock.advance(1)
    await s.run_once()
    assert await dues(r, keys) == []
    assert (await outcomes(r, keys, "a"))[-1] == ("skipped", "paused: the task is paused")
    assert await r.hget(keys.schedule_state("a"), "paused") == b"1"
    await r.xadd(keys.control, encode(TaskResumed(task="a")))  # type: ignore[arg-type]
    clock.advance(60)
    await s.run_once()
    assert [d.scheduled_for for d in await dues(r, keys)] == [T0 + 60]


async def test_cooldown_skips_slots_too_soon_after_a_run(r: Redis, keys: Keys) -> None:
    clock = FakeClock(T0 - 1)
    s = await make(r, keys, clock, {"a": {**EVERY_MIN, "cooldown": "150s", "overlap": "allow"}})
    await s.run_once()
    for _ in range(4):
        clock.advance(60 if _ else 1)
        await s.run_once()
    assert [d.scheduled_for for d in await dues(r, keys)] == [T0, T0 + 180]
    skipped = [why for o, why in await outcomes(r, keys, "a") if o == "skipped"]
    assert len(skipped) == 2 and all(w.startswith("cooldown:") for w in skipped)


async def test_window_bound_task_only_starts_inside_with_deadline_at_window_end(
    r: Redis, keys: Keys
) -> None:
    start = T0 - (T0 % 86400) + 86400  # next UTC midnight
    clock = FakeClock(start - 1)
    windows = {"night": {"hours": "01:00-02:00", "timezone": "UTC"}}
    s = await make(r, keys, clock, {"a": {**EVERY_MIN, "schedule": {"every": "30m"},
                                          "window": "night"}}, windows=windows)  # fmt: skip
    await s.run_once()
    for step in range(4):  # 00:00, 00:30, 01:00, 01:30
        clock.advance(1 if not step else 1800)
        await s.run_once()
        if step == 2:  # the 01:00 run ends before 01:30 (run leases lapse on Redis' clock)
            (first,) = await dues(r, keys)
            await publish_result(r, keys, first, "succeeded", clock.time())
    fired = await dues(r, keys)
    assert [d.scheduled_for for d in fired] == [start + 3600, start + 5400]
    assert {d.deadline for d in fired} == {start + 7200}
    reasons = [why for o, why in await outcomes(r, keys, "a") if o == "skipped"]
    assert len(reasons) == 2 and all("outside window 'night'" in w for w in reasons)
