"""Wall-clock jumps of ±1 h under a running scheduler (its injected clock jumps; its
monotonic time does not, as with an NTP step or a VM resumed on another host).

- forward: no burst — a one-second schedule's hour of missed slots becomes one
  recorded miss and one coalesced catch-up, not 3,600 runs; a slot the jump carried
  into the past (an hourly task) fires at once, not an hour later;
- backward: no slot fires twice, the scheduler keeps answering triggers;
- throughout, the leader keeps its lease (leases run on monotonic time).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from services.scheduler.service import Scheduler
from shared.config import taskdefs
from shared.config.models import Config, TaskConfig
from shared.contract.codec import encode
from shared.contract.events import TriggerRun
from shared.contract.keys import Keys
from shared.runtime.redis import Redis
from tests.chaos.flow import holds
from tests.executor.executor_support import wait_for
from tests.scheduler.sched_support import dues

pytestmark = pytest.mark.chaos

HOUR = 3600.0


class JumpingClock:
    """The system clock, whose wall time can jump by :attr:`offset`; monotonic time and
    sleeps are the real ones."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def time(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


@pytest.fixture
async def running(r: Redis, keys: Keys, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A scheduler on a jumping clock, serving the tasks the test is parametrised with."""
    specs: dict[str, dict[str, Any]] = request.param
    tasks = {
        n: TaskConfig(handler="command", overlap="allow", max_instances=1000, **s)
        for n, s in specs.items()
    }
    config = Config(namespace=keys.ns, tasks=tasks, scheduler={"lease_ttl": 2.0})  # type: ignore[arg-type]
    await taskdefs.apply(r, keys, config)
    clock, stop = JumpingClock(), asyncio.Event()
    scheduler = Scheduler(r, config, clock=clock)
    serving = asyncio.create_task(scheduler.run(stop))
    await wait_for(lambda: holds(scheduler.lease.token is not None), 10, "leading")
    yield scheduler, clock
    stop.set()
    await serving


async def _runs(r: Redis, keys: Keys, task: str) -> list[str]:
    return [d.run_id for d in await dues(r, keys) if d.task == task]


SECONDLY = {"sec": {"schedule": {"every": "1s"}}}
HOURLY = {"hourly": {"schedule": {"every": "1h"}, "misfire_grace": "2h"}}
"""Its slot (up to an hour away) is in the past after a +1 h jump, within its grace."""
BOTH = {**SECONDLY, **HOURLY}


@pytest.mark.parametrize("running", [BOTH], indirect=True)
async def test_a_forward_jump_fires_no_burst(running: Any, r: Redis, keys: Keys) -> None:
    scheduler, clock = running
    token = scheduler.lease.token
    await wait_for(lambda: _at_least(r, keys, "sec", 2), 10, "sec firing")
    before = len(await _runs(r, keys, "sec"))
    clock.offset += HOUR
    await wait_for(lambda: _at_least(r, keys, "hourly", 1), 10, "the hourly slot at once")
    await wait_for(lambda: _at_least(r, keys, "sec", before + 3), 10, "sec firing after")
    # One catch-up run for the hour (plus the regular slots since), not a burst.
    assert len(await _runs(r, keys, "sec")) <= before + 6
    assert len(await _runs(r, keys, "hourly")) == 1
    assert scheduler.lease.token == token


@pytest.mark.parametrize("running", [HOURLY], indirect=True)
async def test_a_forward_jump_is_noticed_by_a_scheduler_sleeping_for_an_hour(
    running: Any, r: Redis, keys: Keys
) -> None:
    _, clock = running
    clock.offset += HOUR  # the hourly slot (up to an hour away) is now in the past
    await wait_for(lambda: _at_least(r, keys, "hourly", 1), 10, "the hourly slot fired")
    assert len(await _runs(r, keys, "hourly")) == 1  # the one slot the jump passed, once


@pytest.mark.parametrize("running", [SECONDLY], indirect=True)
async def test_a_backward_jump_fires_no_slot_twice(running: Any, r: Redis, keys: Keys) -> None:
    scheduler, clock = running
    token = scheduler.lease.token
    await wait_for(lambda: _at_least(r, keys, "sec", 2), 10, "sec firing")
    clock.offset -= HOUR
    # The scheduler still answers (a trigger is run) while its schedule waits for the hour.
    entry = await r.xadd(keys.triggers, encode(TriggerRun(task="sec")))  # type: ignore[arg-type]
    manual = f"sec:m{entry.decode()}"
    await wait_for(lambda: _has(r, keys, manual), 10, "the trigger answered")
    clock.offset += HOUR  # and back: the schedule resumes where it was
    count = len(await _runs(r, keys, "sec"))
    await wait_for(lambda: _at_least(r, keys, "sec", count + 2), 10, "sec firing again")
    repeated = [run for run, n in Counter(await _runs(r, keys, "sec")).items() if n > 1]
    assert repeated == []
    assert scheduler.lease.token == token


async def _at_least(r: Redis, keys: Keys, task: str, n: int) -> bool:
    return len(await _runs(r, keys, task)) >= n


async def _has(r: Redis, keys: Keys, run_id: str) -> bool:
    return run_id in await _runs(r, keys, "sec")
