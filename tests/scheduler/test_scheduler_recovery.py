"""A leader after Redis lost its data (FLUSHALL on a server of the test's own): the
definitions come back from the config with one ``redis.data_lost`` alert, the fencing
epoch keeps increasing, and a deliberate prune is not mistaken for a loss."""

from __future__ import annotations

import asyncio

import pytest

from services.scheduler.emitter import Emission, FencedOut
from services.scheduler.occurrence import make_due
from services.scheduler.service import Scheduler
from shared.config import taskdefs
from shared.config.models import Config, SchedulerSettings, TaskConfig
from shared.contract.codec import decode, encode
from shared.contract.events import AlertRaised, TriggerRun
from shared.contract.keys import Keys
from shared.runtime.clock import FakeClock
from shared.runtime.redis import Redis
from tests.scheduler.sched_support import T0, dues, make

ALERT_KEY = "redis.data_lost"
EVERY_MIN = {"schedule": {"every": "1m"}, "params": {"argv": ["true"]}}
MANUAL = {"params": {"argv": ["true"]}}


async def _alerts(r: Redis, keys: Keys) -> list[AlertRaised]:
    events = [decode(fields) for _, fields in await r.xrange(keys.alerts_stream)]
    return [e for e in events if isinstance(e, AlertRaised) and e.key == ALERT_KEY]


async def _wipe(r: Redis, s: Scheduler) -> None:
    """Redis loses everything; the readers' groups come back (the consumer loop's job)."""
    await r.flushall()
    await s.start()


async def test_definitions_come_back_after_a_flushall_with_one_alert(own_redis: Redis) -> None:
    r, keys, clock = own_redis, Keys("ops"), FakeClock(T0 - 1)
    s = await make(r, keys, clock, {"a": EVERY_MIN, "b": MANUAL})
    await s.run_once()
    assert await _alerts(r, keys) == []  # a first start is not a loss
    await _wipe(r, s)
    await r.xadd(keys.triggers, encode(TriggerRun(task="b")))  # type: ignore[arg-type]

    await s.run_once()  # renewal refused: re-take the lease, restore, then serve

    assert set(await taskdefs.load_all(r, keys)) == {"a", "b"}
    assert await r.zscore(keys.schedule_next, "a") is not None
    assert [d.task for d in await dues(r, keys)] == ["b"]
    (alert,) = await _alerts(r, keys)
    assert alert.severity == "critical"
    assert "0 stored, missing a, b" in alert.message
    assert "re-applied from the config: a, b" in alert.message
    assert f"{keys.triggers}: scheduler" not in alert.message  # recreated before the check
    assert f"{keys.due('normal')}: executors" in alert.message
    clock.advance(60)
    await s.run_once()
    await s.run_once()
    assert len(await _alerts(r, keys)) == 1


async def test_pruning_every_task_on_purpose_is_not_a_loss(own_redis: Redis) -> None:
    r, keys, clock = own_redis, Keys("ops"), FakeClock(T0)
    s = await make(r, keys, clock, {"a": EVERY_MIN})
    await s.run_once()
    await taskdefs.apply(r, keys, s.config.model_copy(update={"tasks": {}}), prune=True)
    await r.delete(keys.scheduler_leader)  # even a new acquisition finds the marker
    await s.run_once()
    assert await taskdefs.load_all(r, keys) == {}
    assert await _alerts(r, keys) == []


async def test_a_marker_deleted_alone_is_written_again_without_an_alert(
    own_redis: Redis,
) -> None:
    r, keys, clock = own_redis, Keys("ops"), FakeClock(T0)
    s = await make(r, keys, clock, {"a": EVERY_MIN})
    await s.run_once()
    await r.delete(keys.deployment, keys.scheduler_leader)
    await s.run_once()
    assert await r.exists(keys.deployment)
    assert await _alerts(r, keys) == []


async def test_restoring_never_deletes_tasks_made_elsewhere(own_redis: Redis) -> None:
    r, keys, clock = own_redis, Keys("ops"), FakeClock(T0)
    s = await make(r, keys, clock, {"a": EVERY_MIN})
    await s.run_once()
    await _wipe(r, s)
    await taskdefs.put(r, keys, "made_in_api", TaskConfig(handler="command", **MANUAL))
    await s.run_once()
    assert set(await taskdefs.load_all(r, keys)) == {"a", "made_in_api"}
    (alert,) = await _alerts(r, keys)
    assert "1 stored, missing a" in alert.message


async def test_a_standby_that_saw_the_marker_raises_the_alert(own_redis: Redis) -> None:
    r, keys, clock = own_redis, Keys("ops"), FakeClock(T0)
    leader = await make(r, keys, clock, {"a": EVERY_MIN})
    await leader.run_once()
    standby = Scheduler(r, leader.config, clock=clock)
    await standby.recovery.observe()
    await _wipe(r, standby)  # the leader's host went down with the data
    await standby.run_once()
    assert standby.lease.token is not None
    assert set(await taskdefs.load_all(r, keys)) == {"a"}
    assert len(await _alerts(r, keys)) == 1


async def test_the_fence_keeps_counting_up_after_a_wipe(own_redis: Redis) -> None:
    r, keys, clock = own_redis, Keys("ops"), FakeClock(T0)
    a = await make(r, keys, clock, {"a": EVERY_MIN})
    b = Scheduler(r, a.config, clock=clock)
    for _ in range(3):  # epochs 1..3, the holder's epoch seen by the standby
        await r.delete(keys.scheduler_leader)
        await a.run_once()
        await b.lease.holder_ttl_s()
    stale = a.lease.token
    assert stale is not None and stale.startswith("3:") and b.lease.epoch_seen == 3
    await _wipe(r, a)
    await b.run_once()  # B leads on the emptied Redis; its epoch is not 1 again
    assert b.lease.token is not None and b.lease.token.startswith("4:")
    due = make_due("a", a.rt.tasks["a"], slot="x", trigger="manual", scheduled_for=T0,
                   emitted_at=T0)  # fmt: skip
    with pytest.raises(FencedOut):
        await a.rt.emitter.emit(stale, [Emission(due=due, slot="x")], int(T0 * 1000))
    assert await dues(r, keys) == []
    await b.lease.release()
    await a.run_once()  # A's renewal is refused and it re-takes the free lease cleanly
    assert a.lease.token is not None and a.lease.token.startswith("5:")


async def test_a_leader_whose_lease_ran_out_in_an_outage_retakes_it_at_once(
    r: Redis, keys: Keys
) -> None:
    clock = FakeClock(T0)
    s = await make(r, keys, clock, {"b": MANUAL})
    await s.run_once()
    first = s.lease.token
    await r.delete(keys.scheduler_leader)  # expired while Redis was unreachable
    await r.xadd(keys.triggers, encode(TriggerRun(task="b")))  # type: ignore[arg-type]
    await s.run_once()  # no wait before re-taking a free lease
    assert s.lease.token is not None and s.lease.token != first
    assert [d.task for d in await dues(r, keys)] == ["b"]
    assert await _alerts(r, keys) == []


async def test_a_fenced_out_leader_retakes_a_free_lease_before_its_next_renewal(
    r: Redis, keys: Keys
) -> None:
    config = Config(namespace=keys.ns, scheduler=SchedulerSettings(lease_ttl=30.0),
                    tasks={"b": TaskConfig(handler="command", **MANUAL)})  # fmt: skip
    await taskdefs.apply(r, keys, config)
    s, stop = Scheduler(r, config), asyncio.Event()
    serving = asyncio.create_task(s.run(stop))
    try:
        async with asyncio.timeout(5):  # the next renewal is 10 s away
            await s.leading.wait()
            first = s.lease.token
            await r.delete(keys.scheduler_leader)  # gone while Redis was away
            await r.xadd(keys.triggers, encode(TriggerRun(task="b")))  # type: ignore[arg-type]
            # Fenced out, re-taken and handled again: the due entry appears.
            assert await r.xread({keys.due("normal"): "0"}, block=5_000)
        assert s.lease.token not in (None, first)
    finally:
        stop.set()
        await serving
