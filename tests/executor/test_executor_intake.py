"""The intake takes due entries critical first, never more than the free slots, and
counts each run's attempt in the same round trip, before anything runs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.executor.intake import Intake, Taken
from shared.contract.codec import decode, encode
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


async def test_a_take_queued_behind_the_wait_takes_what_arrives(r: Redis, keys: Keys) -> None:
    intake = await _intake(r, keys)
    taken = await intake.take(5)
    assert taken.entries == []
    waiting = asyncio.create_task(intake.take_when_new(taken.last_ids, 5, block_ms=10_000))
    await asyncio.sleep(0.2)
    assert not waiting.done()  # blocked: nothing newer yet
    conn = intake._waiting
    normal, critical = make_due(priority="normal"), make_due(priority="critical")
    async with r.pipeline(transaction=True) as both:  # both there when the take runs
        for due in (normal, critical):
            both.xadd(keys.due(due.priority), encode(due))
        await both.execute()

    taken = await asyncio.wait_for(waiting, 5)

    runs = [decode(e.fields).run_id for e in taken.entries]  # type: ignore[attr-defined]
    assert runs == [critical.run_id, normal.run_id]  # most urgent first, as take does
    assert taken.attempts == [1, 1]
    assert (await intake.take(5)).entries == []  # taken once, in that exchange
    assert "b" not in await _flags(r, conn)  # not blocked; open, back in the pool
    assert _in_use(r) == 0


async def test_the_wait_ends_after_its_block_and_the_take_finds_what_was_there(
    r: Redis, keys: Keys
) -> None:
    intake = await _intake(r, keys)
    since = (await intake.take(5)).last_ids
    await publish_due(r, keys, make_due(priority="low"))  # newer than since: no wait at all

    taken = await asyncio.wait_for(intake.take_when_new(since, 5, block_ms=10_000), 5)
    assert [e.stream for e in taken.entries] == [keys.due("low")]

    empty = await intake.take_when_new(taken.last_ids, 5, block_ms=50)
    assert (
        empty.entries == [] and empty.last_ids[keys.due("low")] == taken.last_ids[keys.due("low")]
    )


async def test_an_unblock_ends_the_wait_at_once(r: Redis, keys: Keys) -> None:
    intake = await _intake(r, keys)
    since = (await intake.take(5)).last_ids
    waiting, conn = await _blocked_wait(r, intake, since)

    await intake.unblock()

    taken = await asyncio.wait_for(waiting, 5)  # not the 60 s block
    assert taken.entries == []
    assert "b" not in await _flags(r, conn)
    assert _in_use(r) == 0
    later = await asyncio.wait_for(intake.take_when_new(since, 5, block_ms=60_000), 5)
    assert later.entries == []  # after an unblock, no call waits


async def test_a_cancelled_wait_leaves_no_blocked_connection(r: Redis, keys: Keys) -> None:
    intake = await _intake(r, keys)
    since = (await intake.take(5)).last_ids
    waiting, conn = await _blocked_wait(r, intake, since)

    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting

    await asyncio.sleep(0.1)
    assert await _flags(r, conn) is None  # disconnected, not handed to another caller
    assert _in_use(r) == 0
    due = make_due(priority="high")
    await publish_due(r, keys, due)  # nothing was taken by the cancelled exchange
    taken = await intake.take(5)
    assert [decode(e.fields).run_id for e in taken.entries] == [due.run_id]  # type: ignore[attr-defined]


async def test_scripts_lost_by_redis_are_loaded_again(r: Redis, keys: Keys) -> None:
    intake = await _intake(r, keys)
    since = (await intake.take(5)).last_ids
    await publish_due(r, keys, make_due(priority="normal"))
    await r.script_flush()  # as after a restart: EVALSHA answers NOSCRIPT

    taken = await intake.take_when_new(since, 5, block_ms=1_000)

    assert len(taken.entries) == 1 and taken.attempts == [1]


async def _blocked_wait(
    r: Redis, intake: Intake, since: dict[Any, Any]
) -> tuple[asyncio.Task[Taken], int | None]:
    """A wait of a minute started, and the id of its connection, seen blocked."""
    waiting = asyncio.create_task(intake.take_when_new(since, 5, block_ms=60_000))
    await asyncio.sleep(0.2)
    conn = intake._waiting
    assert "b" in await _flags(r, conn)  # blocked in the wait
    return waiting, conn


async def _flags(r: Redis, conn: int | None) -> str | None:
    """The flags of connection ``conn`` (an intake's wait's; None: it is closed)."""
    assert conn is not None
    listed: Any = await r.client_list(client_id=[conn])  # type: ignore[list-item]
    return str(listed[0]["flags"]) if listed else None


def _in_use(r: Redis) -> int:
    return len(r.connection_pool._in_use_connections)  # type: ignore[attr-defined]
