"""Emergencies have their own stream, read before the triggers stream each turn and
looked at again while a long read is handled: an emergency published behind a backlog
of triggers, or while the leader works through one, is emitted before them, exactly
once; one on the old triggers stream is still accepted."""

from __future__ import annotations

import asyncio
from typing import Any

from services.scheduler.service import PART, READ
from shared.contract.codec import encode
from shared.contract.decisions import recent
from shared.contract.events import TriggerEmergency, TriggerRun
from shared.contract.keys import SCHEDULER_GROUP, Keys
from shared.runtime.clock import FakeClock
from shared.runtime.redis import Redis
from tests.scheduler.sched_support import T0, dues, make

BACKLOG = 2_000
TASK = {"params": {"argv": ["true"]}, "emergency": True, "max_instances": 10_000,
        "overlap": "allow"}  # fmt: skip


async def test_an_emergency_behind_2000_triggers_is_emitted_before_them_exactly_once(
    r: Redis, keys: Keys
) -> None:
    s = await make(r, keys, FakeClock(T0), {"hc": TASK}, scheduler={"decisions_kept": 5_000})
    async with r.pipeline(transaction=False) as pipe:
        for n in range(BACKLOG):
            pipe.xadd(keys.triggers, encode(TriggerRun(task="hc", reason=f"t{n}")))  # type: ignore[arg-type]
        await pipe.execute()
    urgent = TriggerEmergency(task="hc", reason="outage")
    entry_id = (await r.xadd(keys.emergency, encode(urgent))).decode()  # type: ignore[arg-type]

    await s.run_once()
    (first,) = await dues(r, keys, "critical")
    assert first.run_id == f"hc:e{entry_id}"
    assert len(await dues(r, keys)) < BACKLOG  # emitted while the backlog was still queued

    while len(await dues(r, keys)) < BACKLOG:
        assert await s.run_once()
    assert [d.run_id for d in await dues(r, keys, "critical")] == [first.run_id]
    emitted = [d.run_id for d in await recent(r, keys, "hc", BACKLOG + 10)]
    assert len(emitted) == BACKLOG + 1
    assert emitted[0] == first.run_id  # decided before every queued trigger
    assert emitted.count(first.run_id) == 1
    assert (await r.xpending(keys.emergency, SCHEDULER_GROUP))["pending"] == 0


async def test_an_emergency_published_while_a_read_of_triggers_is_handled_overtakes_it(
    r: Redis, keys: Keys
) -> None:
    clock = FakeClock(T0)
    s = await make(r, keys, clock, {"hc": TASK}, scheduler={"decisions_kept": 5_000})
    async with r.pipeline(transaction=False) as pipe:
        for n in range(READ):
            pipe.xadd(keys.triggers, encode(TriggerRun(task="hc", reason=f"t{n}")))  # type: ignore[arg-type]
        await pipe.execute()

    emit, published, first = s.rt.emitter.emit, [], []

    async def publish_once_emitting(*args: Any) -> Any:
        """The leader's first emission of the read returns, then an emergency is sent and
        time goes on (decided by the read's progress, not by a race with it)."""
        codes = await emit(*args)
        if not published:
            first.append(len(args[1]))
            entry_id = await r.xadd(keys.emergency, encode(TriggerEmergency(task="hc")))  # type: ignore[arg-type]
            published.append(entry_id.decode())
            assert s.events._standing is not None  # the standing read, out since the read began
            async with asyncio.timeout(10):
                while not s.events._express_got:  # noqa: ASYNC110 (its reply, no event)
                    await asyncio.sleep(0.001)
        return codes

    s.rt.emitter.emit = publish_once_emitting  # type: ignore[method-assign]
    async with asyncio.timeout(30):
        await s.run_once()  # one read (of READ triggers); the emergency came by the standing read
    (entry_id,) = published
    assert [d.run_id for d in await dues(r, keys, "critical")] == [f"hc:e{entry_id}"]
    assert len(await dues(r, keys)) == READ
    order = [d.run_id for d in await recent(r, keys, "hc", READ + 10)]
    assert len(order) == READ + 1
    position = order.index(f"hc:e{entry_id}")
    # Right after the part in hand (its triggers: the read's first entries but the
    # definition change make() published), before the rest of the read.
    assert first == [position] and PART - 1 <= position <= PART
    assert (await r.xpending(keys.emergency, SCHEDULER_GROUP))["pending"] == 0
    assert (await r.xpending(keys.triggers, SCHEDULER_GROUP))["pending"] == 0


async def test_an_emergency_on_the_triggers_stream_is_still_accepted(r: Redis, keys: Keys) -> None:
    s = await make(r, keys, FakeClock(T0), {"hc": TASK})
    eid = await r.xadd(keys.triggers, encode(TriggerEmergency(task="hc", reason="old")))  # type: ignore[arg-type]
    await s.run_once()
    (due,) = await dues(r, keys, "critical")
    assert due.run_id == f"hc:et{eid.decode()}"


async def test_a_manual_trigger_on_the_emergency_stream_is_dead_lettered(
    r: Redis, keys: Keys
) -> None:
    s = await make(r, keys, FakeClock(T0), {"hc": TASK})
    await r.xadd(keys.emergency, encode(TriggerRun(task="hc")))  # type: ignore[arg-type]
    await s.run_once()
    assert await dues(r, keys) == []
    ((_, dead),) = await r.xrange(keys.dead)
    assert dead[b"reason"].decode() == f"trigger.run does not belong on {keys.emergency}"
