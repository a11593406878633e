"""The emission script and its Python side agree: the fields the Lua reads are the ones
the builders write, and every reply code is produced (with its decision) on real Redis."""

from __future__ import annotations

import re
from typing import Any

import msgpack
import pytest

from services.scheduler.emitter import END, Emission, Emitter, FencedOut, Move, move_map
from services.scheduler.itemwire import ITEM_FIELDS, ITEM_FORMAT, PROFILE_FIELDS
from services.scheduler.occurrence import make_due
from shared.config.models import TaskConfig
from shared.contract.decisions import Decision, Outcome, recent
from shared.contract.emission import EmitCode, code_table
from shared.contract.keys import SCHEDULER_GROUP, Keys
from shared.contract.scripts import source
from shared.runtime.redis import Redis, ensure_group, text

LUA = source("schedule_emit")
TOKEN = "1:test"
FIELDS = Decision.field_names()


def _reads(var: str) -> set[str]:
    """Every ``var.<name>`` the script reads."""
    return set(re.findall(rf"\b{var}\.(\w+)", LUA))


def _emission(keys: Keys, task: str, slot: str, **extra: Any) -> Emission:
    spec = TaskConfig(handler="command", max_instances=1, overlap=extra.pop("overlap", "skip"))
    due = make_due(task, spec, slot=slot, trigger="schedule", scheduled_for=1.0, emitted_at=1.0)
    return Emission(due=due, slot=slot, overlap=spec.overlap, lease_ms=60_000, **extra)


def test_the_script_reads_exactly_the_fields_the_builders_write(keys: Keys) -> None:
    emitter = Emitter(None, keys)  # type: ignore[arg-type]  # packing needs no Redis
    every = _emission(keys, "a", "1", window="w", window_max=2, then=Move("a", "2.0", "2"),
                      defer_at=3.0, report_busy=True, ack=(keys.triggers, "1-0"))  # fmt: skip
    made = {"fired", "running", "state", "decisions"}  # from the key prefixes and the task
    sent = set(emitter.item_map(every)) | {"run_id"}  # run_id: sent when not task:slot
    assert _reads("it") == sent | made
    assert sent == (set(ITEM_FIELDS) - {"profile"}) | set(PROFILE_FIELDS)
    assert _reads("prefix") == made
    assert _reads("p") == set(PROFILE_FIELDS)
    # load_item unpacks an item's ITEM_FIELDS in order, with ITEM_FORMAT.
    unpacked = re.search(r"local (profile,.*?), after = struct\.unpack\(ITEM, s, pos\)", LUA, re.S)
    assert unpacked is not None
    assert [name.strip() for name in unpacked.group(1).split(",")] == list(ITEM_FIELDS)
    assert f"local ITEM = '{ITEM_FORMAT}'\n" in LUA
    assert _reads("move") | _reads("m") == set(move_map(Move("a", END))) | set(
        move_map(Move("a", "2.0", "2"))
    )
    decision = Decision(slot="1", outcome=Outcome.SKIPPED)
    (call,) = emitter.pack([every], [Move("a", END)], [("a", decision)])
    # bodies travel as raw strings (Lua has no bin type): read names as bytes too
    batch = msgpack.unpackb(call.blob, raw=True, strict_map_key=False)
    assert _reads("batch") == {text(k) for k in batch}
    assert _reads("d") == {text(k) for k in batch[b"decisions"][0]}
    assert _reads("words") == {key for words in code_table().values() for key in words}


async def test_every_code_is_produced_and_recorded_as_its_decision(r: Redis, keys: Keys) -> None:
    await r.set(keys.scheduler_leader, TOKEN)
    emitter = Emitter(r, keys)
    first = _emission(keys, "a", "1")
    steps = [
        [first],
        [first],  # the same occurrence again
        [_emission(keys, "a", "2")],  # "a" is running: skip
        [_emission(keys, "a", "3", overlap="queue", defer_at=5.0)],  # … or queue
        [_emission(keys, "b", "1", window="w", window_max=1)],  # takes the window
        [_emission(keys, "c", "1", window="w", window_max=1)],  # the window is full
    ]
    codes = [(await emitter.emit(TOKEN, items, 1000))[0] for items in steps]
    assert codes == [
        EmitCode.EMITTED, EmitCode.DUPLICATE, EmitCode.SKIPPED_OVERLAP,
        EmitCode.DEFERRED_OVERLAP, EmitCode.EMITTED, EmitCode.DEFERRED_WINDOW,
    ]  # fmt: skip
    assert set(codes) == set(EmitCode)
    recorded = [(d.outcome, d.cause, d.reason) for t in "abc" for d in await recent(r, keys, t)]
    recording = [c for c in codes if c.outcome is not None]
    assert recorded == [(c.outcome, c.cause, c.reason) for c in recording]
    for blob in await r.lrange(keys.decisions("a"), 0, -1):
        entry = msgpack.unpackb(blob, raw=True)
        assert {b"slot", b"outcome", b"at_ms"} <= set(entry) <= set(map(str.encode, FIELDS))
        assert b"" not in entry.values()  # empty fields are left out
    assert await r.hget(keys.schedule_slots, "a") == b"3"  # the queued slot stays pending


async def test_one_call_counts_the_leases_its_own_items_take(r: Redis, keys: Keys) -> None:
    """The script counts a lease zset once per call and then keeps the count itself: the
    items of one call see the leases the earlier ones took, and an expired lease is gone."""
    await r.set(keys.scheduler_leader, TOKEN)
    await r.zadd(keys.running("d"), {"d:old": 0})  # a lease that expired long ago
    items = [
        _emission(keys, "a", "1"),
        _emission(keys, "a", "1"),  # the same occurrence: no second lease
        _emission(keys, "a", "2"),  # max_instances 1, taken by a:1 in this call
        _emission(keys, "b", "1", window="w", window_max=2),
        _emission(keys, "c", "1", window="w", window_max=2),
        _emission(keys, "e", "1", window="w", window_max=2),  # the window is full
        _emission(keys, "d", "1"),
        _emission(keys, "f", "1", overlap="allow"),
        _emission(keys, "f", "2", overlap="allow"),  # the task's state names its last fire
    ]
    codes = await Emitter(r, keys).emit(TOKEN, items, 1000)
    assert codes == [
        EmitCode.EMITTED, EmitCode.DUPLICATE, EmitCode.SKIPPED_OVERLAP, EmitCode.EMITTED,
        EmitCode.EMITTED, EmitCode.DEFERRED_WINDOW, EmitCode.EMITTED, EmitCode.EMITTED,
        EmitCode.EMITTED,
    ]  # fmt: skip
    assert await r.zrange(keys.running("d"), 0, -1) == [b"d:1"]
    assert await r.zcard(keys.window_running("w")) == 2
    for task, slot in (("a", "1"), ("d", "1"), ("f", "2")):
        state = await r.hmget(keys.schedule_state(task), ["fired_slot", "fired_run_id"])
        assert state == [slot.encode(), f"{task}:{slot}".encode()]
    assert await r.hget(keys.schedule_state("e"), "fired_slot") is None


async def test_busy_requests_are_reported_not_recorded(r: Redis, keys: Keys) -> None:
    await r.set(keys.scheduler_leader, TOKEN)
    emitter = Emitter(r, keys)
    await emitter.emit(TOKEN, [_emission(keys, "a", "1")], 1000)
    codes = await emitter.emit(TOKEN, [_emission(keys, "a", "m1", report_busy=True)], 1000)
    assert codes == [EmitCode.SKIPPED_OVERLAP]
    assert [d.outcome for d in await recent(r, keys, "a")] == [Outcome.FIRED]


async def test_a_stale_token_writes_nothing(r: Redis, keys: Keys) -> None:
    await r.set(keys.scheduler_leader, "2:other")
    with pytest.raises(FencedOut):
        await Emitter(r, keys).emit(TOKEN, [_emission(keys, "a", "1")], 1000)
    assert await r.exists(keys.decisions("a"), keys.due("normal")) == 0


async def test_a_trigger_is_acked_in_the_call_that_emits_its_run(r: Redis, keys: Keys) -> None:
    """Emitted (or emitted before): acked with the emission; busy: left pending for the
    intake to refuse; fenced out: nothing acked."""
    await r.set(keys.scheduler_leader, TOKEN)
    await ensure_group(r, keys.triggers, SCHEDULER_GROUP)
    ids = [text(await r.xadd(keys.triggers, {"n": str(i)})) for i in range(4)]
    await r.xreadgroup(SCHEDULER_GROUP, "leader", {keys.triggers: ">"})
    emitter = Emitter(r, keys)

    def run(slot: str, entry_id: str) -> Emission:
        return _emission(keys, "a", slot, report_busy=True, ack=(keys.triggers, entry_id))

    await r.set(keys.scheduler_leader, "2:other")
    with pytest.raises(FencedOut):
        await emitter.emit(TOKEN, [run("m1", ids[0])], 1000)
    assert await _pending(r, keys) == ids
    await r.set(keys.scheduler_leader, TOKEN)
    codes = await emitter.emit(TOKEN, [run("m1", ids[0]), run("m2", ids[1])], 1000)
    assert codes == [EmitCode.EMITTED, EmitCode.SKIPPED_OVERLAP]  # max_instances: 1
    assert await _pending(r, keys) == ids[1:]
    # Read again after a crash: the emitted one is a duplicate, acked all the same.
    codes = await emitter.emit(TOKEN, [run("m1", ids[2]), run("m3", ids[3])], 1000)
    assert codes == [EmitCode.DUPLICATE, EmitCode.SKIPPED_OVERLAP]
    assert await _pending(r, keys) == [ids[1], ids[3]]


async def _pending(r: Redis, keys: Keys) -> list[str]:
    rows: Any = await r.xpending_range(keys.triggers, SCHEDULER_GROUP, "-", "+", 100)
    return [text(row["message_id"]) for row in rows]
