"""Each occurrence is emitted once: a schedule's slots through the state hash's
``fired_hwm`` (no key per fire), every other slot through its fired marker."""

from __future__ import annotations

from typing import Any

from services.scheduler.emitter import Emission, Emitter
from services.scheduler.occurrence import make_due
from shared.config.models import TaskConfig
from shared.contract.emission import EmitCode
from shared.contract.keys import Keys
from shared.runtime.redis import Redis

TOKEN = "1:test"
SLOT = 1_800_000_000_000  # a schedule slot: whole epoch ms


def _emission(task: str, slot: str | int, **extra: Any) -> Emission:
    spec = TaskConfig(
        handler="command",
        overlap=extra.pop("overlap", "allow"),
        max_instances=extra.pop("max_instances", 1),
    )
    due = make_due(task, spec, slot=str(slot), trigger="schedule", scheduled_for=1.0,
                   emitted_at=1.0)  # fmt: skip
    return Emission(due=due, slot=str(slot), overlap=spec.overlap, lease_ms=60_000, **extra)


async def _emit(r: Redis, keys: Keys, *items: Emission) -> list[EmitCode]:
    return await Emitter(r, keys).emit(TOKEN, list(items), 1000)


async def _markers(r: Redis, keys: Keys) -> list[bytes]:
    return sorted([k async for k in r.scan_iter(match=keys.fired("*", "*"))])


async def test_schedule_slots_fire_once_and_leave_no_marker(r: Redis, keys: Keys) -> None:
    await r.set(keys.scheduler_leader, TOKEN)
    catch_up = [_emission("a", SLOT + i * 60_000) for i in range(3)]  # catch_up: all
    assert await _emit(r, keys, *catch_up) == [EmitCode.EMITTED] * 3
    assert await r.hget(keys.schedule_state("a"), "fired_hwm") == str(SLOT + 120_000).encode()
    # Sent again (a call retried after a lost reply, a takeover that planned them again):
    # every one is a duplicate, the last and the earlier ones alike.
    assert await _emit(r, keys, *catch_up) == [EmitCode.DUPLICATE] * 3
    assert await _emit(r, keys, _emission("a", SLOT + 180_000)) == [EmitCode.EMITTED]
    # Another task's slots are its own.
    assert await _emit(r, keys, _emission("b", SLOT)) == [EmitCode.EMITTED]
    assert await r.xlen(keys.due("normal")) == 5
    assert await _markers(r, keys) == []


async def test_other_slots_keep_a_marker_each(r: Redis, keys: Keys) -> None:
    await r.set(keys.scheduler_leader, TOKEN)
    runs = [_emission("a", slot) for slot in ("m1-0", "e2-0", "p0-3-0", f"{SLOT}#a2")]
    assert await _emit(r, keys, *runs) == [EmitCode.EMITTED] * 4
    assert await _emit(r, keys, *runs) == [EmitCode.DUPLICATE] * 4
    assert await _markers(r, keys) == sorted(keys.fired("a", s.slot).encode() for s in runs)
    assert 0 < await r.pttl(keys.fired("a", "m1-0")) <= 7 * 86_400_000
    # They do not move the schedule's high-water mark: its slots still fire.
    assert await r.hget(keys.schedule_state("a"), "fired_hwm") is None
    assert await _emit(r, keys, _emission("a", SLOT)) == [EmitCode.EMITTED]


async def test_a_slot_marked_before_fired_hwm_existed_is_not_emitted_again(
    r: Redis, keys: Keys
) -> None:
    """Upgrading: a task whose last fire left a marker and no ``fired_hwm``."""
    await r.set(keys.scheduler_leader, TOKEN)
    await r.set(keys.fired("a", SLOT), "1", px=60_000)
    await r.hset(keys.schedule_state("a"), mapping={"fired_slot": str(SLOT)})
    assert await _emit(r, keys, _emission("a", SLOT)) == [EmitCode.DUPLICATE]
    assert await r.xlen(keys.due("normal")) == 0
    assert await _emit(r, keys, _emission("a", SLOT + 60_000)) == [EmitCode.EMITTED]
    assert await _emit(r, keys, _emission("a", SLOT)) == [EmitCode.DUPLICATE]


async def test_a_busy_slot_stays_unfired_and_fires_when_free(r: Redis, keys: Keys) -> None:
    """A slot held back by overlap is not counted as fired: the high-water mark moves
    only with an emission."""
    await r.set(keys.scheduler_leader, TOKEN)
    first, held = (_emission("a", SLOT + i * 60_000, overlap="queue", max_instances=1,
                             defer_at=5.0) for i in range(2))  # fmt: skip
    assert await _emit(r, keys, first) == [EmitCode.EMITTED]
    assert await _emit(r, keys, held) == [EmitCode.DEFERRED_OVERLAP]  # ``first`` runs
    assert await r.hget(keys.schedule_state("a"), "fired_hwm") == str(SLOT).encode()
    await r.delete(keys.running("a"))  # ``first`` finished
    assert await _emit(r, keys, held) == [EmitCode.EMITTED]
    assert await _emit(r, keys, first, held) == [EmitCode.DUPLICATE] * 2
