"""A run's cluster-wide leases ride on the intake and publish scripts: taken with the run
(all or none), held while it runs, given back with its result or when it cannot run."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.executor.intake import Intake
from services.executor.publish import Publisher
from services.executor.semaphores import Lease
from services.executor.service import Executor
from shared.contract.codec import pack
from shared.contract.keys import EXECUTORS_GROUP, Keys
from shared.runtime.redis import Redis, ensure_group
from tests.executor.executor_support import (
    make_config,
    make_due,
    publish_due,
    results,
    wait_results,
)
from tests.scheduler.sched_support import result_of

GROUPS = {"database": 1}


async def _intake(r: Redis, keys: Keys) -> Intake:
    for stream in keys.due_streams:
        await ensure_group(r, stream, EXECUTORS_GROUP)
    return Intake(r, keys, "x1", holder_suffix="@x1", lease_ms=60_000, resource_groups=GROUPS)


async def _holders(r: Redis, key: str) -> set[str]:
    return {m.decode() for m in await r.zrange(key, 0, -1)}


async def test_the_intake_takes_every_lease_of_a_run_or_none(r: Redis, keys: Keys) -> None:
    intake = await _intake(r, keys)
    both = make_due("t_sleep", task="nightly", max_instances=2, resources=["database"])
    waits = make_due("t_sleep", task="nightly", max_instances=2, resources=["database"])
    free = make_due("t_sleep", task="nightly")
    for due in (both, waits, free):
        await publish_due(r, keys, due)

    taken = await intake.take(3)

    task_key, group_key = keys.task_semaphore("nightly"), keys.group_semaphore("database")
    assert taken.leases == [Lease(f"{both.run_id}@x1", (task_key, group_key)), None, None]
    assert taken.attempts == [1, 1, 1]  # the one left waiting is counted all the same
    assert await _holders(r, task_key) == {f"{both.run_id}@x1"}  # none of the second's
    assert await _holders(r, group_key) == {f"{both.run_id}@x1"}
    assert 0 < await r.pttl(task_key) <= 60_000


async def test_an_intake_without_a_holder_takes_no_lease(r: Redis, keys: Keys) -> None:
    for stream in keys.due_streams:
        await ensure_group(r, stream, EXECUTORS_GROUP)
    await publish_due(r, keys, make_due("t_sleep", task="nightly", max_instances=1))
    taken = await Intake(r, keys, "x1").take(1)
    assert taken.leases == [None]
    assert not await r.exists(keys.task_semaphore("nightly"))


async def test_publishing_gives_the_leases_back_even_when_the_entry_is_gone(
    r: Redis, keys: Keys
) -> None:
    intake = await _intake(r, keys)
    owned, lost = make_due(max_instances=5), make_due(max_instances=5)
    for due in (owned, lost):
        await publish_due(r, keys, due)
    taken = await intake.take(2)
    await r.xack(keys.due("normal"), EXECUTORS_GROUP, taken.entries[1].entry_id)
    publisher = Publisher(r, keys, "x1")

    published = [await publisher.publish(entry, result_of(due, "succeeded", 0.0), lease)
                 for entry, due, lease in zip(taken.entries, (owned, lost), taken.leases,
                                              strict=True)]  # fmt: skip

    assert published == [True, False]  # one result, none for the entry acked elsewhere
    assert await r.xlen(keys.results) == 1
    assert await _holders(r, keys.task_semaphore(owned.task)) == set()


async def test_finished_runs_leave_no_lease_held(r: Redis, keys: Keys, tmp_path: Path) -> None:
    executor = Executor(r, make_config(keys, tmp_path, max_concurrent=4,
                                       resource_groups=GROUPS))  # fmt: skip
    await executor.start()
    for _ in range(3):
        await publish_due(r, keys, make_due(params={"seconds": 0}, max_instances=10,
                                            resources=["database"]))  # fmt: skip
    while len(await r.xrange(keys.results)) < 3:
        await executor.run_once(block_ms=20)
    await executor.drain(5)
    assert {x.status for x in await wait_results(r, keys, 3)} == {"succeeded"}
    assert executor.attempt.semaphores.held == {}
    assert not await r.zcard(keys.task_semaphore("t_sleep"))
    assert not await r.zcard(keys.group_semaphore("database"))


async def test_an_entry_that_cannot_run_gives_back_the_leases_the_intake_took(
    r: Redis, keys: Keys, tmp_path: Path
) -> None:
    executor = Executor(r, make_config(keys, tmp_path))
    await executor.start()
    # Readable enough for the intake script (a run id, a limit), not a valid task.due.
    body = pack({"run_id": "broken-1", "task": "t_sleep", "max_instances": 1})
    await r.xadd(keys.due("normal"), {"type": "task.due", "v": "1", "body": body})

    await executor.run_once(block_ms=20)

    assert await r.xlen(keys.dead) == 1
    assert executor.attempt.semaphores.held == {}
    assert not await r.zcard(keys.task_semaphore("t_sleep"))
    assert not executor.inflight


async def test_runs_published_together_release_ack_and_clear_once_each(
    r: Redis, keys: Keys
) -> None:
    """One script call for runs finishing together: each owned entry is published and acked
    once (also when it comes twice), every lease goes back, every progress hash goes."""
    intake = await _intake(r, keys)
    dues = [make_due(task="nightly", max_instances=5) for _ in range(3)]
    for due in dues:
        await publish_due(r, keys, due)
    taken = await intake.take(3)
    for due in dues:
        await r.hset(keys.run_progress(due.run_id), "percent", 50)
    publisher = Publisher(r, keys, "x1")
    pairs = [*zip(taken.entries, dues, taken.leases, strict=True)]
    pairs.append(pairs[1])  # the second run's entry once more, in the same call

    published = await asyncio.gather(*(publisher.publish(entry, result_of(due, "succeeded", 0.0),
                                                         lease)
                                       for entry, due, lease in pairs))  # fmt: skip

    assert published == [True, True, True, False]
    assert [result.run_id for result in await results(r, keys)] == [d.run_id for d in dues]
    assert (await r.xpending(keys.due("normal"), EXECUTORS_GROUP))["pending"] == 0
    assert await _holders(r, keys.task_semaphore("nightly")) == set()
    assert not any([await r.exists(keys.run_progress(d.run_id)) for d in dues])
