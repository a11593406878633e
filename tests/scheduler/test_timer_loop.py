"""The serving scheduler's timer on the real clock: each slot once and never early, and
what it learnt ahead (the lookahead, an early plan) never outlives an event."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pytest

from services.scheduler import service
from services.scheduler.lookahead import PACE_HEADROOM
from services.scheduler.service import Scheduler
from shared.config import taskdefs
from shared.config.models import Config, TaskConfig
from shared.contract.codec import decode, encode
from shared.contract.events import TaskDue, TaskPaused, TriggerRun
from shared.contract.keys import Keys
from shared.runtime.redis import Redis
from tests.executor.executor_support import wait_for

ANCHOR = datetime(2026, 1, 1, 0, 0, 0, 250_000, tzinfo=UTC).isoformat()
"""Slots at .250 of every second: off the whole second, like most real phases."""


def _every_second(**extra: Any) -> TaskConfig:
    return TaskConfig(handler="command", schedule=[{"every": "1s", "anchor": ANCHOR}],
                      overlap="allow", **extra)  # fmt: skip


async def _apply(r: Redis, keys: Keys, tasks: dict[str, TaskConfig]) -> Config:
    config = Config(namespace=keys.ns, tasks=tasks)
    await taskdefs.apply(r, keys, config)
    return config


HOURLY = TaskConfig(handler="command", schedule=[{"every": "1h"}])


@pytest.fixture
async def serving(r: Redis, keys: Keys, request: pytest.FixtureRequest) -> AsyncIterator[Scheduler]:
    """A scheduler serving ``sec`` (every second) and ``hourly``, or the tasks the test
    is parametrised with."""
    tasks = getattr(request, "param", {"sec": _every_second(), "hourly": HOURLY})
    config = await _apply(r, keys, tasks)
    scheduler, stop = Scheduler(r, config), asyncio.Event()
    running = asyncio.create_task(scheduler.run(stop))
    async with asyncio.timeout(10):
        await scheduler.leading.wait()
    yield scheduler
    stop.set()
    await running


async def _fired(r: Redis, keys: Keys, task: str) -> list[tuple[int, TaskDue]]:
    """(entry id ms, event) of every task.due of ``task``."""
    out = []
    for entry_id, fields in await r.xrange(keys.due("normal")):
        due = decode(fields)
        if isinstance(due, TaskDue) and due.task == task:
            out.append((int(entry_id.split(b"-")[0]), due))
    return out


def _count(r: Redis, keys: Keys, task: str, n: int) -> Any:
    async def check() -> bool:
        return len(await _fired(r, keys, task)) >= n

    return check


async def test_each_slot_fires_once_in_order_and_never_before_its_time(
    serving: Scheduler, r: Redis, keys: Keys
) -> None:
    await wait_for(_count(r, keys, "sec", 4), 10, "four slots")
    fired = await _fired(r, keys, "sec")
    slots = [due.scheduled_for for _, due in fired]
    assert slots == sorted(set(slots))
    assert all(b - a == pytest.approx(1.0) for a, b in pairwise(slots))
    assert all(entry_ms >= due.scheduled_for * 1000 for entry_ms, due in fired)
    assert [due.run_id for _, due in fired] == [f"sec:{round(s * 1000)}" for s in slots]


@pytest.mark.parametrize("serving", [{"hourly": HOURLY}], indirect=True)
async def test_a_task_added_while_the_timer_waits_fires_from_its_first_slot(
    serving: Scheduler, r: Redis, keys: Keys
) -> None:
    await asyncio.sleep(0.5)  # the timer waits for the hourly slot, known ahead
    added = time.time()
    await _apply(r, keys, {"hourly": HOURLY, "new": _every_second()})
    await wait_for(_count(r, keys, "new", 2), 10, "the added task")
    first = (await _fired(r, keys, "new"))[0][1].scheduled_for
    assert added < first < added + 2.5


async def test_a_pause_reaches_a_slot_planned_ahead(
    serving: Scheduler, r: Redis, keys: Keys
) -> None:
    await wait_for(_count(r, keys, "sec", 1), 10, "the timer going")
    await r.xadd(keys.control, encode(TaskPaused(task="sec", reason="test")))  # type: ignore[arg-type]
    await wait_for(lambda: _paused(serving), 5, "the pause handled")
    handled = time.time()
    await asyncio.sleep(2.5)
    later = [d for _, d in await _fired(r, keys, "sec") if d.scheduled_for > handled + 0.01]
    assert later == []


async def _paused(scheduler: Scheduler) -> bool:
    return "sec" in scheduler.rt.paused


COOL = _every_second(cooldown="3s", max_instances=10)


@pytest.mark.parametrize("serving", [{"cool": COOL}], indirect=True)
async def test_a_manual_run_just_before_a_slot_holds_it_back_by_cooldown(
    serving: Scheduler, r: Redis, keys: Keys
) -> None:
    await wait_for(_count(r, keys, "cool", 1), 10, "a first fire")
    first = (await _fired(r, keys, "cool"))[0][1].scheduled_for
    # A manual run half a second before the slot three seconds on (a read of triggers
    # does not wake the timer); that slot is then too close to it and is skipped.
    await asyncio.sleep(first + 2.5 - time.time())
    await r.xadd(keys.triggers, encode(TriggerRun(task="cool")))  # type: ignore[arg-type]
    await asyncio.sleep(first + 3.6 - time.time())
    scheduled = [d.scheduled_for for _, d in await _fired(r, keys, "cool")
                 if d.trigger == "schedule"]  # fmt: skip
    assert first + 3 not in scheduled
    assert any(d.trigger == "manual" for _, d in await _fired(r, keys, "cool"))


MANY = {f"s{i:03d}": _every_second() for i in range(250)}
"""More tasks per tick than a lookahead lists: each tick is staged a lead ahead."""


@pytest.mark.parametrize("serving", [MANY], indirect=True)
async def test_a_tick_that_stages_slowly_is_staged_earlier_the_next_time(
    serving: Scheduler, r: Redis, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, leads = service.stage, []

    async def slow(rt: Any, at: float, ahead: Any = None) -> Any:
        leads.append(at - time.time())  # how long before its instant the stage began
        staged = await real(rt, at, ahead)
        await asyncio.sleep(0.0005 * staged.tasks)  # a host several times slower
        return staged

    monkeypatch.setattr(service, "stage", slow)

    async def staged_thrice() -> bool:
        return len(leads) >= 3

    await wait_for(staged_thrice, 15, "three slow stages")
    # 0.5 ms per entry seen: the allowance is half as much again, and the next tick is
    # staged that far ahead, ~190 ms (the floor alone would allow 250 x 250 µs = 63 ms).
    assert serving.pace.per_entry_s >= PACE_HEADROOM * 0.0005
    assert leads[-1] > 0.12


async def test_emissions_and_reads_go_through_the_lanes_closed_at_stop(
    r: Redis, keys: Keys
) -> None:
    config = await _apply(r, keys, {"sec": _every_second()})
    scheduler, stop = Scheduler(r, config), asyncio.Event()
    running = asyncio.create_task(scheduler.run(stop))
    lane, reads, express = ("-".join(f"{scheduler.name}-{use}".split())
                            for use in ("emit", "read", "express"))  # fmt: skip
    try:
        await wait_for(_count(r, keys, "sec", 2), 10, "two slots")
        # Only the lanes name their connections so; the emission lane's last command was
        # an emission, the read lane's a read of the scheduler's streams.
        last = {c["name"]: c["cmd"] for c in await r.client_list()}
        assert last[lane] == "evalsha"
        assert last[reads] in ("xreadgroup", "xack")
    finally:
        stop.set()
        await running

    async def lanes_gone() -> bool:  # Redis notices a closed socket on its next turn
        names = [c["name"] for c in await r.client_list()]
        return lane not in names and reads not in names and express not in names

    await wait_for(lanes_gone, 5, "the lanes' connections closed")
