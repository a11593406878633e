"""A load that outlasts the lease: renewed as it goes, and a replica fenced out while
loading does not lead on what it half loaded (nor spin its loops waiting for it)."""

from __future__ import annotations

import asyncio

from services.scheduler import runtime
from services.scheduler.lease import Lease
from shared.config.models import SchedulerSettings
from shared.contract.codec import encode
from shared.contract.events import TriggerRun
from shared.contract.keys import Keys
from shared.runtime.clock import FakeClock
from shared.runtime.redis import Redis
from tests.scheduler.sched_support import T0, dues, make

MANY = {f"t{i:04d}": {"schedule": {"every": "1h"}} for i in range(runtime.LOAD_CHUNK * 2 + 3)}


async def test_keep_renews_once_a_third_of_the_lease_has_passed(r: Redis, keys: Keys) -> None:
    clock = FakeClock(T0)
    lease = Lease(r, keys, "a", 30.0, clock)
    assert await lease.acquire()
    await r.pexpire(keys.scheduler_leader, 1_000)  # only a renewal sets 30 s again
    assert await lease.keep()
    assert 0 < await r.pttl(keys.scheduler_leader) <= 1_000  # too early: no round trip
    clock.advance(10.0)
    assert await lease.keep()
    assert await r.pttl(keys.scheduler_leader) > 20_000
    await r.set(keys.scheduler_leader, "9:other")
    clock.advance(10.0)
    assert not await lease.keep()
    assert lease.token is None


async def test_load_calls_keep_after_every_page(r: Redis, keys: Keys) -> None:
    scheduler = await make(r, keys, FakeClock(T0), MANY)
    assert await scheduler.lease.acquire() and scheduler.lease.token
    calls: list[int] = []

    async def keep() -> None:
        calls.append(len(scheduler.rt.tasks))

    await scheduler.rt.load(scheduler.lease.token, keep)
    # HSCAN's COUNT is a hint: about LOAD_CHUNK per page, so 2,003 definitions make 2-4 pages
    assert len(calls) >= 2 and calls == sorted(calls)
    assert calls[-1] == len(MANY)  # ... and after the last one
    assert await r.zcard(keys.schedule_next) == len(MANY)


async def test_a_replica_fenced_out_while_loading_does_not_lead(r: Redis, keys: Keys) -> None:
    # A 1 ms lease runs out long before 2,003 definitions are loaded (the fake clock
    # never tells the lease to renew): the fenced write at the end of the load is refused.
    settings = SchedulerSettings(lease_ttl=0.001)
    scheduler = await make(r, keys, FakeClock(T0), MANY, scheduler=settings)
    assert await scheduler.run_once() == 0
    assert scheduler.lease.token is None
    assert not scheduler.leading.is_set()  # set, the waiting loops would spin for ever
    assert await r.zcard(keys.schedule_next) == 0


async def test_the_loops_wait_while_the_lease_is_taken_and_the_load_not_done(
    r: Redis, keys: Keys
) -> None:
    """Between taking the lease and the end of the load (after Redis restarted empty, the
    restore of the definitions comes first), a trigger is not handled: handled then, it
    met definitions not loaded yet and was dead-lettered as an unknown task."""
    scheduler = await make(r, keys, FakeClock(T0), {"hc": {}})
    assert await scheduler.lease.acquire()  # as _acquire does first; the load comes next
    await r.xadd(keys.triggers, encode(TriggerRun(task="hc")))

    waiting = asyncio.create_task(scheduler._event_step())
    await asyncio.sleep(0.3)
    assert not waiting.done()  # waits for the load, reads nothing
    assert await r.xlen(keys.dead) == 0
    assert (await r.xinfo_groups(keys.triggers))[0]["entries-read"] in (None, 0)

    await scheduler.rt.load(scheduler.lease.token or "", scheduler._keep)
    scheduler.leading.set()  # the end of _acquire
    await asyncio.wait_for(waiting, 5)
    await scheduler._event_step()  # the first step only woke; this one reads
    assert await r.xlen(keys.dead) == 0
    (due,) = await dues(r, keys)
    assert due.task == "hc" and due.trigger == "manual"
