"""Runs on real Redis with a fake clock: overlap, retries, dependencies, emergencies,
fencing and policies."""

from __future__ import annotations

from services.scheduler.emitter import Emission, FencedOut
from services.scheduler.occurrence import make_due
from services.scheduler.service import Scheduler
from shared.contract.codec import decode, encode
from shared.contract.events import AlertRaised, TriggerEmergency, TriggerRun
from shared.contract.keys import Keys
from shared.runtime.clock import FakeClock
from shared.runtime.redis import Redis
from tests.scheduler.sched_support import T0, dues, make, outcomes, publish_result

EVERY_MIN = {"schedule": {"every": "1m"}, "params": {"argv": ["true"]}}


async def _tick_minutes(s: Scheduler, clock: FakeClock, minutes: int) -> None:
    for _ in range(minutes):
        clock.advance(60)
        await s.run_once()


async def test_overlap_skip_and_queue(r: Redis, keys: Keys) -> None:
    clock = FakeClock(T0 - 1)
    tasks = {"skip": {**EVERY_MIN, "overlap": "skip"}, "queue": {**EVERY_MIN, "overlap": "queue"}}
    s = await make(r, keys, clock, tasks)
    await s.run_once()
    clock.advance(1)
    await s.run_once()
    await _tick_minutes(s, clock, 1)  # both first runs are still running at T0+60
    assert sorted(d.task for d in await dues(r, keys)) == ["queue", "skip"]
    assert (await outcomes(r, keys, "skip"))[-1][0] == "skipped"
    assert (await outcomes(r, keys, "queue"))[-1][0] == "deferred"
    first_queue = next(d for d in await dues(r, keys) if d.task == "queue")
    clock.advance(2)
    await publish_result(r, keys, first_queue, "succeeded", clock.time())
    await s.run_once()  # the result frees the instance and wakes the queued slot
    await s.run_once()
    queued = [d for d in await dues(r, keys) if d.task == "queue"]
    assert [d.scheduled_for for d in queued] == [T0, T0 + 60]


async def test_failed_run_is_retried_with_exponential_backoff(r: Redis, keys: Keys) -> None:
    clock = FakeClock(T0 - 1)
    spec = {**EVERY_MIN, "schedule": {"every": "1h"}, "retries": {"max": 2, "backoff": "10s"}}
    s = await make(r, keys, clock, {"a": spec})
    await s.run_once()
    clock.advance(1)
    await s.run_once()
    (first,) = await dues(r, keys)
    delays = []
    for attempt in (1, 2):
        failed_at = clock.time()
        await publish_result(r, keys, (await dues(r, keys))[-1], "failed", failed_at)
        await s.run_once()
        ((_, due_at),) = await r.zrange(keys.schedule_retries, 0, -1, withscores=True)
        delays.append(due_at - failed_at)
        clock.advance(due_at - clock.time() - 0.5)
        await s.run_once()
        assert len(await dues(r, keys)) == attempt  # not yet
        clock.advance(0.5)
        await s.run_once()
    retries = (await dues(r, keys))[1:]
    assert delays == [10.0, 20.0]
    assert [(d.run_id, d.attempt, d.trigger) for d in retries] == [
        (first.run_id, 2, "retry"), (first.run_id, 3, "retry"),
    ]  # fmt: skip
    await publish_result(r, keys, retries[-1], "failed", clock.time())
    await s.run_once()
    assert await r.zcard(keys.schedule_retries) == 0  # attempts exhausted
    assert [o for o, _ in await outcomes(r, keys, "a")].count("retry") == 2


async def test_dependent_waits_for_upstream_success_in_the_same_cycle(r: Redis, keys: Keys) -> None:
    clock = FakeClock(T0 - 1)
    tasks = {"up": {**EVERY_MIN, "schedule": {"every": "1h"}},
             "down": {**EVERY_MIN, "schedule": {"every": "1h"}, "depends_on": ["up"]}}  # fmt: skip
    s = await make(r, keys, clock, tasks)
    await s.run_once()
    clock.advance(1)
    await s.run_once()
    assert [d.task for d in await dues(r, keys)] == ["up"]
    assert (await outcomes(r, keys, "down"))[-1][0] == "deferred"
    clock.advance(30)
    await publish_result(r, keys, (await dues(r, keys))[0], "succeeded", clock.time())
    await s.run_once()
    await s.run_once()
    assert [d.task for d in await dues(r, keys)] == ["up", "down"]
    # next cycle: the upstream fails, so the dependent is skipped, not run
    clock.advance(3600 - 30)
    await s.run_once()
    await publish_result(r, keys, (await dues(r, keys))[-1], "failed", clock.time())
    await s.run_once()
    await s.run_once()
    assert [d.task for d in await dues(r, keys)] == ["up", "down", "up"]
    assert (await outcomes(r, keys, "down"))[-1][1] == "dependency: upstream 'up' failed this cycle"


async def test_emergency_bypasses_window_and_cooldown(r: Redis, keys: Keys) -> None:
    clock = FakeClock(T0)
    windows = {"never_now": {"hours": "00:00-00:01", "days": ["sun"], "max_concurrent": 1}}
    spec = {"params": {"argv": ["true"]}, "window": "never_now", "cooldown": "1h",
            "emergency": True}  # fmt: skip
    s = await make(r, keys, clock, {"a": spec}, windows=windows)
    await r.xadd(keys.triggers, encode(TriggerRun(task="a")))  # type: ignore[arg-type]
    await r.xadd(keys.triggers, encode(TriggerEmergency(task="a", reason="disk full")))  # type: ignore[arg-type]
    await s.run_once()
    (due,) = await dues(r, keys, "critical")
    assert (due.trigger, due.reason, due.deadline) == ("emergency", "disk full", None)
    assert await dues(r, keys) == []
    (dead,) = await r.xrange(keys.dead)
    # the same window rule and words as a scheduled slot's
    assert (
        dead[1][b"reason"]
        == b"outside window 'never_now'; it opens next at 2027-01-17T00:00:00+00:00"
    )
    assert [o for o, _ in await outcomes(r, keys, "a")] == ["refused", "fired"]


async def test_refused_emergencies_are_dead_lettered_with_an_alert(r: Redis, keys: Keys) -> None:
    clock = FakeClock(T0)
    s = await make(r, keys, clock, {"calm": {"params": {"argv": ["true"]}}})
    await r.xadd(keys.triggers, encode(TriggerEmergency(task="calm")))  # type: ignore[arg-type]
    await r.xadd(keys.triggers, encode(TriggerEmergency(task="ghost")))  # type: ignore[arg-type]
    await s.run_once()
    reasons = [f[b"reason"].decode() for _, f in await r.xrange(keys.dead)]
    assert reasons == [
        "task 'calm' does not allow emergency runs (emergency: false)",
        "unknown task 'ghost'",
    ]
    alerts = [decode(f) for _, f in await r.xrange(keys.alerts_stream)]
    assert [a.key for a in alerts if isinstance(a, AlertRaised)] == [
        "scheduler.emergency_refused.calm", "scheduler.emergency_refused.ghost",
    ]  # fmt: skip
    assert all([await dues(r, keys, p) == [] for p in ("critical", "normal")])
    assert await r.xpending(keys.triggers, "scheduler") == {
        "pending": 0,
        "min": None,
        "max": None,
        "consumers": [],
    }


async def test_a_stale_leader_is_refused_by_the_fence(r: Redis, keys: Keys) -> None:
    clock = FakeClock(T0)
    old = await make(r, keys, clock, {"a": EVERY_MIN})
    await old.run_once()
    stale = old.lease.token
    assert stale is not None
    await r.delete(keys.scheduler_leader)  # the lease ran out while "old" was stopped
    new = Scheduler(r, old.config, clock=clock)
    await new.run_once()
    assert new.lease.token is not None and new.lease.token != stale
    due = make_due("a", old.rt.tasks["a"], slot="x", trigger="manual", scheduled_for=T0,
                   emitted_at=T0)  # fmt: skip
    try:
        await old.rt.emitter.emit(stale, [Emission(due=due, slot="x")], int(T0 * 1000))
    except FencedOut:
        pass
    else:
        raise AssertionError("a stale token must be refused")
    assert await dues(r, keys) == []
    assert not await old.lease.renew() and old.lease.token is None


async def test_policy_turns_a_critical_alert_into_one_run_per_cooldown(
    r: Redis, keys: Keys
) -> None:
    clock = FakeClock(T0)
    policies = [{"name": "disk", "when": {"alert": "system.disk", "severity": "critical"},
                 "run": ["cleanup"], "cooldown": "10m"}]  # fmt: skip
    s = await make(r, keys, clock, {"cleanup": {"params": {"argv": ["true"]}}}, policies=policies)
    await s.run_once()
    for severity in ("warning", "critical", "critical"):
        alert = AlertRaised(alert_id=severity, key="system.disk", severity=severity, title="disk",
                            message="", source="test", first_seen=T0, last_seen=T0)  # fmt: skip
        await r.xadd(keys.alerts_stream, encode(alert))  # type: ignore[arg-type]
    await s.run_once()
    (due,) = await dues(r, keys)
    assert (due.task, due.trigger) == ("cleanup", "policy")
    assert due.reason == "policy disk: alert system.disk ≥ critical"


async def test_a_read_of_results_ends_their_leases_and_tallies_each_terminal_run(
    r: Redis, keys: Keys
) -> None:
    manual = {"params": {"argv": ["true"]}, "overlap": "allow", "max_instances": 10}
    tasks = {"a": manual, "b": manual, "c": {**manual, "retries": {"max": 1}}}
    s = await make(r, keys, FakeClock(T0), tasks)
    for name in ("a", "a", "a", "b", "c"):
        await r.xadd(keys.triggers, encode(TriggerRun(task=name)))  # type: ignore[arg-type]
    await s.run_once()
    a1, a2, a3, b1, c1 = await dues(r, keys)
    for due, status, at in ((a1, "succeeded", 1.0), (b1, "failed", 2.0), (a2, "succeeded", 3.0),
                            (c1, "failed", 4.0), (a3, "failed", 5.0)):  # fmt: skip
        await publish_result(r, keys, due, status, T0 + at)
    await s.run_once()  # one read: all five results together

    for name in ("a", "b", "c"):
        assert await r.zcard(keys.running(name)) == 0
    a = await r.hgetall(keys.schedule_state("a"))
    assert (a[b"sched_results"], a[b"sched_successes"], a[b"sched_status"]) == (
        b"3",
        b"2",
        b"failed",
    )
    assert (float(a[b"sched_finished_at"]), float(a[b"sched_success_at"])) == (T0 + 5, T0 + 3)
    b = await r.hgetall(keys.schedule_state("b"))
    assert (b[b"sched_results"], b[b"sched_successes"], b[b"sched_status"]) == (
        b"1",
        b"0",
        b"failed",
    )
    assert b"sched_success_at" not in b
    assert b"sched_results" not in await r.hgetall(keys.schedule_state("c"))  # to be retried
