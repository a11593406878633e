"""The one consumer-group loop: pending first, admission, isolation, backoff, batch acks,
group recreation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from shared.contract.codec import encode
from shared.contract.events import TaskResult, TriggerEmergency, TriggerRun
from shared.contract.keys import Keys
from shared.runtime.clock import FakeClock
from shared.runtime.consume import CLAIM_EVERY_S, Batch, Consumer, Received
from shared.runtime.lane import Lane
from shared.runtime.redis import Redis, ensure_group

GROUP = "g"


def _result(n: int) -> dict[str, Any]:
    event = TaskResult(
        run_id=f"t:{n}", task="t", handler="h", attempt=1, trigger="manual",
        scheduled_for=1.0, status="succeeded", started_at=1.0, finished_at=2.0,
        duration_s=1.0, executor="x",
    )  # fmt: skip
    return encode(event)  # type: ignore[return-value]


def _run_ids(batch: Batch) -> list[str]:
    return [i.event.run_id for i in batch.received if isinstance(i.event, TaskResult)]


class Recorder:
    """A handler that records what it saw and fails for the run ids it is told to."""

    def __init__(self, clock: FakeClock | None = None, failing: frozenset[str] = frozenset()):
        self.batches: list[list[str]] = []
        self.calls: list[tuple[str, float]] = []
        self.clock = clock
        self.failing = failing

    async def __call__(self, batch: Batch) -> None:
        self.batches.append(_run_ids(batch))
        await batch.each(self.one)

    async def one(self, item: Received) -> None:
        assert isinstance(item.event, TaskResult)
        self.calls.append((item.event.run_id, self.clock.monotonic() if self.clock else 0.0))
        if item.event.run_id in self.failing:
            raise ValueError(f"cannot handle {item.event.run_id}")


LANE_NAME = "consume-test"
_lanes: list[Lane] = []
_reads_via: list[str] = ["client"]


@pytest.fixture(autouse=True, params=["client", "lane"])
async def reads_via(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """Every test twice: the consumer reading and acking through its Redis client, and
    through a lane (the services' way)."""
    _reads_via[0] = request.param
    yield request.param
    for lane in _lanes:
        await lane.aclose()
    _lanes.clear()


def _laned(consumer: Consumer) -> Consumer:
    if _reads_via[0] == "lane":
        consumer.lane = Lane(consumer.r.client(), name=LANE_NAME)
        _lanes.append(consumer.lane)
    return consumer


async def _consumer(
    r: Redis, keys: Keys, handle: Callable[[Batch], Awaitable[object]], **extra: Any
) -> Consumer:
    await ensure_group(r, keys.results, GROUP)
    return _laned(Consumer(r, keys, (keys.results,), GROUP, "c1", handle, **extra))


async def _pending(r: Redis, keys: Keys) -> int:
    return int((await r.xpending(keys.results, GROUP))["pending"])


async def _dead_reasons(r: Redis, keys: Keys) -> list[str]:
    return [fields[b"reason"].decode() for _, fields in await r.xrange(keys.dead)]


async def test_pending_entries_come_first_after_a_restart(r: Redis, keys: Keys) -> None:
    await ensure_group(r, keys.results, GROUP)
    for n in (1, 2):
        await r.xadd(keys.results, _result(n))  # type: ignore[arg-type]
    # A previous process read these as c1 and died before acking them.
    await r.xreadgroup(GROUP, "c1", {keys.results: ">"}, count=10)
    await r.xadd(keys.results, _result(3))  # type: ignore[arg-type]
    handler = Recorder()
    consumer = await _consumer(r, keys, handler)
    assert await consumer.step(block_ms=None) == 2
    assert await consumer.step(block_ms=None) == 1
    assert handler.batches == [["t:1", "t:2"], ["t:3"]]
    assert await _pending(r, keys) == 0


async def test_garbage_and_wrong_types_are_dead_lettered_with_the_reason(
    r: Redis, keys: Keys
) -> None:
    await r.xadd(keys.results, {"type": "task.result", "v": "1", "body": b"\xc1"})
    await r.xadd(keys.results, encode(TriggerRun(task="x")))  # type: ignore[arg-type]
    await r.xadd(keys.results, _result(1))  # type: ignore[arg-type]
    handler = Recorder()
    consumer = await _consumer(r, keys, handler)
    assert await consumer.step(block_ms=None) == 3
    assert handler.batches == [["t:1"]]
    garbage, misplaced = await _dead_reasons(r, keys)
    assert garbage.startswith("body is not valid msgpack")
    assert misplaced == f"trigger.run does not belong on {keys.results}"
    assert await _pending(r, keys) == 0


async def test_a_failing_entry_is_retried_with_backoff_then_dead_lettered(
    r: Redis, keys: Keys
) -> None:
    clock = FakeClock()
    for n in (1, 2, 3):
        await r.xadd(keys.results, _result(n))  # type: ignore[arg-type]
    handler = Recorder(clock, failing=frozenset({"t:2"}))
    consumer = await _consumer(r, keys, handler, clock=clock)

    await consumer.step(block_ms=None)
    # The rest of the batch is done at once; only the failing entry stays pending.
    assert [run for run, _ in handler.calls] == ["t:1", "t:2", "t:3"]
    pending = await r.xpending_range(keys.results, GROUP, "-", "+", 10)
    assert len(pending) == 1
    assert await _dead_reasons(r, keys) == []

    while await _pending(r, keys):
        await consumer.step(block_ms=None)
    retries = [at for run, at in handler.calls if run == "t:2"]
    assert retries == pytest.approx([0.0, 0.1, 0.3])  # the backoff doubles: no hot loop
    assert await _dead_reasons(r, keys) == [
        "handling failed 3 times: ValueError: cannot handle t:2"
    ]
    assert [run for run, _ in handler.calls].count("t:1") == 1


async def test_together_isolates_the_entry_that_fails_alone(r: Redis, keys: Keys) -> None:
    seen: list[list[str]] = []

    async def work(items: list[Received]) -> None:
        ids = [i.event.run_id for i in items if isinstance(i.event, TaskResult)]
        seen.append(ids)
        if "t:2" in ids:
            raise RuntimeError("t:2 is poison")

    async def handle(batch: Batch) -> None:
        await batch.together(batch.received, work)

    ids = [await r.xadd(keys.results, _result(n)) for n in (1, 2, 3)]  # type: ignore[arg-type]
    consumer = await _consumer(r, keys, handle)
    await consumer.step(block_ms=None)
    assert seen == [["t:1", "t:2", "t:3"], ["t:1"], ["t:2"], ["t:3"]]
    pending = await r.xpending_range(keys.results, GROUP, "-", "+", 10)
    assert [p["message_id"] for p in pending] == [ids[1]]


async def test_held_entries_stay_pending_without_counting_as_failures(r: Redis, keys: Keys) -> None:
    async def hold_all(batch: Batch) -> None:
        batch.hold(batch.received)

    await r.xadd(keys.results, _result(1))  # type: ignore[arg-type]
    consumer = await _consumer(r, keys, hold_all, clock=FakeClock())
    for _ in range(5):
        assert await consumer.step(block_ms=None) == 1
    assert await _pending(r, keys) == 1
    assert await r.xlen(keys.dead) == 0


async def test_acks_are_one_xack_per_batch(r: Redis, keys: Keys) -> None:
    for n in range(50):
        await r.xadd(keys.results, _result(n))  # type: ignore[arg-type]
    consumer = await _consumer(r, keys, Recorder())
    await consumer.step(block_ms=None)  # the (empty) pending read, then this batch
    before = await _xack_calls(r)
    consumer.pending_first()
    for n in range(50, 100):
        await r.xadd(keys.results, _result(n))  # type: ignore[arg-type]
    assert await consumer.step(block_ms=None) == 50
    assert await _xack_calls(r) - before == 1
    assert await _pending(r, keys) == 0


async def test_entries_the_handler_acked_itself_are_not_acked_again(r: Redis, keys: Keys) -> None:
    """The scheduler's emission script acks the triggers it emits; the loop acks the rest
    (here the handler only says it acked the odd ones: they stay pending)."""

    async def odd_acked(batch: Batch) -> None:
        batch.acked([i for i in batch.received if int(_run_ids(Batch([i]))[0][2:]) % 2])

    ids = [await r.xadd(keys.results, _result(n)) for n in range(4)]  # type: ignore[arg-type]
    consumer = await _consumer(r, keys, odd_acked)
    assert await consumer.step(block_ms=None) == 4
    rows: Any = await r.xpending_range(keys.results, GROUP, "-", "+", 10)
    assert [row["message_id"] for row in rows] == [ids[1], ids[3]]


async def _xack_calls(r: Redis) -> int:
    stats: dict[str, Any] = await r.info("commandstats")
    return int(stats.get("cmdstat_xack", {}).get("calls", 0))


@pytest.mark.parametrize("loss", ["stream deleted", "group destroyed"])
async def test_a_lost_group_is_recreated_from_zero(r: Redis, keys: Keys, loss: str) -> None:
    handler = Recorder()
    consumer = await _consumer(r, keys, handler)
    await r.xadd(keys.results, _result(1))  # type: ignore[arg-type]
    assert await consumer.step(block_ms=None) == 1
    if loss == "stream deleted":
        await r.delete(keys.results)  # an emptied Redis, or an evicted key
    else:
        await r.xgroup_destroy(keys.results, GROUP)
    # Written after the loss, before any reader noticed: must not be skipped.
    for n in (2, 3):
        await r.xadd(keys.results, _result(n))  # type: ignore[arg-type]
    assert await consumer.step(block_ms=None) == (2 if loss == "stream deleted" else 3)
    assert handler.batches[-1][-2:] == ["t:2", "t:3"]
    assert await _pending(r, keys) == 0


async def test_a_read_blocked_when_the_stream_vanishes_recreates_the_group(
    r: Redis, keys: Keys
) -> None:
    handler = Recorder()
    consumer = await _consumer(r, keys, handler)
    assert await consumer.step(block_ms=None) == 0  # past the pending read
    step = asyncio.create_task(consumer.step(block_ms=10_000))
    async with asyncio.timeout(5):
        while not await _blocked_on_xreadgroup(r):  # noqa: ASYNC110 (no event to await)
            await asyncio.sleep(0.01)
    await r.delete(keys.results)  # Redis answers the blocked read with UNBLOCKED
    await r.xadd(keys.results, _result(1))  # type: ignore[arg-type]
    async with asyncio.timeout(5):
        assert await step == 1
    assert handler.batches == [["t:1"]]
    assert await _pending(r, keys) == 0


async def _blocked_on_xreadgroup(r: Redis) -> bool:
    clients: list[dict[str, Any]] = await r.client_list()
    return any(c.get("cmd") == "xreadgroup" and "b" in c.get("flags", "") for c in clients)


async def test_pending_ids_of_trimmed_entries_are_acked(r: Redis, keys: Keys) -> None:
    await ensure_group(r, keys.results, GROUP)
    entry_id = await r.xadd(keys.results, _result(1))  # type: ignore[arg-type]
    await r.xreadgroup(GROUP, "c1", {keys.results: ">"}, count=10)
    await r.xdel(keys.results, entry_id)
    handler = Recorder()
    consumer = await _consumer(r, keys, handler)
    assert await consumer.step(block_ms=None) == 0
    assert await _pending(r, keys) == 0
    assert handler.batches == []


async def test_entries_a_gone_consumer_left_pending_are_claimed_and_handled(
    r: Redis, keys: Keys
) -> None:
    # A reporter killed with a batch in hand restarts under a new name; a read whose
    # reply was cut leaves its entries delivered but unseen. Nobody reads those pending
    # lists again unless the live consumer claims what has been idle too long.
    clock, recorder = FakeClock(), Recorder()
    consumer = await _consumer(r, keys, recorder, clock=clock, claim_idle_ms=0)
    await r.xadd(keys.results, _result(1))  # type: ignore[arg-type]
    await r.xreadgroup(GROUP, "gone", {keys.results: ">"})
    await r.xadd(keys.results, _result(2))  # type: ignore[arg-type]
    await consumer.step(block_ms=None)
    await consumer.step(block_ms=None)
    assert [run for run, _ in recorder.calls] == ["t:1", "t:2"]
    pending: Any = await r.xpending(keys.results, GROUP)
    assert pending["pending"] == 0
    # Claiming is periodic, not per read: a new orphan waits for the next round.
    await r.xadd(keys.results, _result(3))  # type: ignore[arg-type]
    await r.xreadgroup(GROUP, "gone", {keys.results: ">"})
    await consumer.step(block_ms=None)
    assert len(recorder.calls) == 2
    clock.advance(CLAIM_EVERY_S)
    await consumer.step(block_ms=None)
    assert [run for run, _ in recorder.calls] == ["t:1", "t:2", "t:3"]


async def _standing_consumer(r: Redis, keys: Keys, handle: Callable[[Batch], Awaitable[object]]
                             ) -> Consumer:  # fmt: skip
    for stream in (keys.emergency, keys.results):
        await ensure_group(r, stream, GROUP)
    return _laned(Consumer(r, keys, (keys.emergency, keys.results), GROUP, "c1", handle,
                           part=4, express=(keys.emergency,), standing_ms=50))  # fmt: skip


async def _gathered(consumer: Consumer) -> None:
    """Wait until the standing read brought something."""
    async with asyncio.timeout(10):
        while not consumer._express_got:  # noqa: ASYNC110 (its reply, no event)
            await asyncio.sleep(0.001)


def _names(batch: Batch) -> list[str]:
    return [getattr(i.event, "run_id", "urgent") for i in batch.received]


async def test_a_standing_read_brings_an_express_entry_to_the_next_part_boundary(
    r: Redis, keys: Keys
) -> None:
    """The standing read is out from the first part on: an entry that comes while a part
    is handled is handled right after it, with no look (round trip) at the boundary."""
    seen: list[list[str]] = []
    consumer: Consumer

    async def handle(batch: Batch) -> None:
        seen.append(_names(batch))
        if len(seen) == 1:
            standing = consumer._standing
            assert standing is not None and not standing.done()  # blocking on the server
            await r.xadd(keys.emergency, encode(TriggerEmergency(task="t")))  # type: ignore[arg-type]
            await _gathered(consumer)

    consumer = await _standing_consumer(r, keys, handle)
    for n in range(10):
        await r.xadd(keys.results, _result(n))  # type: ignore[arg-type]
    assert await consumer.step(block_ms=None) == 10
    assert seen == [["t:0", "t:1", "t:2", "t:3"], ["urgent"], ["t:4", "t:5", "t:6", "t:7"],
                    ["t:8", "t:9"]]  # fmt: skip
    for stream in (keys.emergency, keys.results):
        assert (await r.xpending(stream, GROUP))["pending"] == 0
    assert await consumer.step(block_ms=None) == 0  # the boundary took it: nothing left
    await consumer.close()


async def test_what_a_standing_read_brings_after_the_parts_is_the_next_steps_first_read(
    r: Redis, keys: Keys
) -> None:
    """An entry the standing read gets after the last boundary is read by the next step
    at once, even one that would block for a long time on the other streams."""
    seen: list[list[str]] = []

    async def handle(batch: Batch) -> None:
        seen.append(_names(batch))
        if len(seen) == 3:  # the last part: no boundary follows
            await r.xadd(keys.emergency, encode(TriggerEmergency(task="t")))  # type: ignore[arg-type]

    consumer = await _standing_consumer(r, keys, handle)
    for n in range(10):
        await r.xadd(keys.results, _result(n))  # type: ignore[arg-type]
    assert await consumer.step(block_ms=None) == 10
    async with asyncio.timeout(5):
        assert await consumer.step(block_ms=30_000) == 1
    assert seen[-1] == ["urgent"]
    assert (await r.xpending(keys.emergency, GROUP))["pending"] == 0
    await consumer.close()


async def test_a_standing_read_stopped_leaves_what_it_got_pending_for_the_next_step(
    r: Redis, keys: Keys
) -> None:
    seen: list[list[str]] = []

    async def handle(batch: Batch) -> None:
        seen.append(_names(batch))

    consumer = await _standing_consumer(r, keys, handle)
    consumer._parting = True  # as while a read is handled in parts
    consumer._stand()
    await r.xadd(keys.emergency, encode(TriggerEmergency(task="t")))  # type: ignore[arg-type]
    await _gathered(consumer)
    await consumer.close()  # its entry was delivered, never handled
    assert (await r.xpending(keys.emergency, GROUP))["pending"] == 1
    assert await consumer.step(block_ms=None) == 1  # read again from the pending list
    assert seen == [["urgent"]]
    assert (await r.xpending(keys.emergency, GROUP))["pending"] == 0
    assert await consumer.step(block_ms=None) == 0  # once


async def test_with_a_lane_the_reads_and_acks_go_through_it(
    r: Redis, keys: Keys, reads_via: str
) -> None:
    consumer = await _consumer(r, keys, Recorder())
    await r.xadd(keys.results, _result(1))  # type: ignore[arg-type]
    assert await consumer.step(block_ms=None) == 1
    assert await _pending(r, keys) == 0
    last = {c["name"]: c["cmd"] for c in await r.client_list()}
    if reads_via == "lane":
        assert last[LANE_NAME] == "xack"  # the read, then its ack, on the lane
    else:
        assert LANE_NAME not in last


async def test_a_read_after_the_lanes_connection_died_is_handled_all_the_same(
    r: Redis, keys: Keys, reads_via: str
) -> None:
    handler = Recorder()
    consumer = await _consumer(r, keys, handler)
    await r.xadd(keys.results, _result(1))  # type: ignore[arg-type]
    assert await consumer.step(block_ms=None) == 1
    if reads_via == "lane":
        [conn] = [c for c in await r.client_list() if c["name"] == LANE_NAME]
        await r.execute_command("CLIENT", "KILL", "ID", conn["id"])
    await r.xadd(keys.results, _result(2))  # type: ignore[arg-type]
    assert await consumer.step(block_ms=None) == 1  # through the lane's fallback
    assert handler.batches == [["t:1"], ["t:2"]]
    assert await _pending(r, keys) == 0
