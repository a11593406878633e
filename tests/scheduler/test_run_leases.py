"""Run leases (``running:<task>``, ``window_running:<window>``) expire on Redis' clock:
a step of the scheduler's wall clock does not make a run still going look finished."""

from __future__ import annotations

from shared.contract.decisions import Cause, Outcome, recent
from shared.contract.keys import Keys
from shared.contract.running import lease_now_ms, running, sweep_expired
from shared.runtime.clock import FakeClock
from shared.runtime.redis import Redis
from tests.scheduler.sched_support import T0, dues, make

HOUR = 3600.0
TASK = {"params": {"argv": ["true"]}, "schedule": {"every": "30m"}, "timeout": "5m",
        "max_instances": 1, "overlap": "skip"}  # fmt: skip
"""Its run lease: twice the timeout plus a minute, 11 minutes."""


async def test_a_wall_clock_jump_does_not_expire_a_running_run(r: Redis, keys: Keys) -> None:
    clock = FakeClock(T0 - 1)
    s = await make(r, keys, clock, {"a": TASK})
    await s.run_once()
    clock.advance(1)
    await s.run_once()  # fires; its run is still going (no result)
    assert len(await dues(r, keys)) == 1

    clock.set(T0 + HOUR)  # the wall clock steps an hour: the 11-minute lease is not over
    await s.run_once()

    assert len(await dues(r, keys)) == 1
    story = [(d.outcome, d.cause) for d in await recent(r, keys, "a")]
    assert story[-1] == (Outcome.SKIPPED, Cause.OVERLAP)
    assert await r.zcard(keys.running("a")) == 1


ALLOW = {"params": {"argv": ["true"]}, "schedule": {"every": "30m"}, "timeout": "5m",
         "overlap": "allow"}  # fmt: skip
"""Fires whatever runs: its emission never prunes its lease zset."""


async def test_a_lease_whose_result_never_came_stops_counting_and_is_swept(
    r: Redis, keys: Keys
) -> None:
    clock = FakeClock(T0 - 1)
    s = await make(r, keys, clock, {"a": ALLOW, "b": TASK})
    await s.run_once()
    clock.advance(1)
    await s.run_once()  # both fire; no result ever comes
    [a_run] = await r.zrange(keys.running("a"), 0, -1)
    [b_run] = await r.zrange(keys.running("b"), 0, -1)
    lost = await lease_now_ms(r) - 1
    await r.zadd(keys.running("a"), {a_run: lost}, xx=True)  # its lease ran out
    await r.zadd(keys.window_running("w"), {"x:1": lost, "x:2": lost + 600_000})

    listed = await running(r, keys, ["a", "b"])
    assert [(run.task, run.run_id) for run in listed] == [("b", b_run.decode())]

    await s.run_once()  # no trim pass due yet: nothing swept
    assert await r.zcard(keys.running("a")) == 1
    clock.advance(60)  # the trim pass (every minute) sweeps the leases
    await s.run_once()
    assert await r.zcard(keys.running("a")) == 0
    assert await r.zrange(keys.running("b"), 0, -1) == [b_run]  # still live
    assert await sweep_expired(r, keys, ["a", "b"], ["w"]) == 1
    assert await r.zrange(keys.window_running("w"), 0, -1) == [b"x:2"]
