"""The intake takes due entries critical first, never more than the free slots, and
counts each run's attempt in the same round trip, before anything runs."""

from __future__ import annotations

from services.executor.intake import Intake
from shared.contract.codec import decode
from shared.contract.keys import EXECUTORS_GROUP, Keys
from shared.runtime.redis import Redis, ensure_group
from tests.executor.executor_support import make_due, publish_due


async def _intake(r: Redis, keys: Keys) -> Intake:
    for stream in keys.due_streams:
        await ensure_group(r, stream, EXECUTORS_GROUP)
    return Intake(r, keys, "executor-test")


async def test_takes_critical_first_within_the_free_slots_and_counts_attempts(
    r: Redis, keys: Keys
) -> None:
    intake = await _intake(r, keys)
    normal = [make_due(priority="normal") for _ in range(4)]
    critical = [make_due(priority="critical") for _ in range(2)]
    for due in [*normal, *critical]:  # critical written last, still taken first
        await publish_due(r, keys, due)
    await r.set(keys.attempts(critical[0].run_id), 2)  # two attempts counted before

    taken = await intake.take(3)

    runs = [decode(e.fields).run_id for e in taken.entries]  # type: ignore[attr-defined]
    assert runs == [critical[0].run_id, critical[1].run_id, normal[0].run_id]
    assert taken.attempts == [3, 1, 1]
    assert await r.get(keys.attempts(normal[0].run_id)) == b"1"
    assert await r.ttl(keys.attempts(normal[0].run_id)) > 0
    assert await r.get(keys.attempts(normal[1].run_id)) is None  # not taken, not counted
    assert len((await intake.take(10)).entries) == 3  # the rest, nothing twice


async def test_a_deferred_priority_is_left_alone_and_an_unreadable_entry_is_not_counted(
    r: Redis, keys: Keys
) -> None:
    intake = await _intake(r, keys)
    await publish_due(r, keys, make_due(priority="low"))
    await r.xadd(keys.due("normal"), {"type": "task.due", "v": "1", "body": b"\xc1"})

    taken = await intake.take(5, ("critical", "high", "normal"))

    assert [e.stream for e in taken.entries] == [keys.due("normal")]
    assert taken.attempts == [0]  # its reader dead-letters it
    assert taken.last_ids[keys.due("low")] != b"0-0"


async def test_when_nothing_is_taken_the_wait_wakes_on_the_next_entry(r: Redis, keys: Keys) -> None:
    intake = await _intake(r, keys)
    taken = await intake.take(5)
    assert taken.entries == []
    await publish_due(r, keys, make_due(priority="high"))
    assert await intake.wait_for_work(taken.last_ids, block_ms=5_000)
