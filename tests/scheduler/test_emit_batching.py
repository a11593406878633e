"""The emission script gathers a call's schedule moves and counters and writes them once:
the outcome is the one of writing them item after item. A call may also read what is
due next (the lookahead), after its writes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.scheduler.emitter import END, Emission, Emitter, Move
from services.scheduler.lookahead import LISTED, NOTHING, peek
from services.scheduler.occurrence import make_due
from shared.config.models import TaskConfig
from shared.contract.decisions import Decision, Outcome
from shared.contract.keys import Keys
from shared.contract.tallies import decision_field
from shared.runtime.redis import Redis

TOKEN = "1:test"
SPEC = TaskConfig(handler="command", overlap="allow")


def _fire(task: str, slot_ms: int, *, then: Move | None = None) -> Emission:
    due = make_due(task, SPEC, slot=str(slot_ms), trigger="schedule",
                   scheduled_for=slot_ms / 1000, emitted_at=slot_ms / 1000)  # fmt: skip
    return Emission(due=due, slot=str(slot_ms), overlap="allow", lease_ms=60_000, then=then)


@pytest.fixture
async def emitter(r: Redis, keys: Keys) -> Emitter:
    await r.set(keys.scheduler_leader, TOKEN)
    await r.zadd(keys.schedule_next, {"kept": 1.0})
    await r.hset(keys.schedule_slots, "kept", "1000")
    return Emitter(r, keys)


async def _schedule(r: Redis, keys: Keys, task: str) -> tuple[float | None, bytes | None]:
    return await r.zscore(keys.schedule_next, task), await r.hget(keys.schedule_slots, task)


async def test_moves_of_one_task_in_one_call_end_as_written_in_order(
    r: Redis, keys: Keys, emitter: Emitter
) -> None:
    moves = [
        Move("a", END), Move("a", "5.0", "5000"),  # ended, then started again
        Move("b", "3.0", "3000"), Move("b", "4.0"),  # a move without a slot keeps it
        Move("c", "3.0", "3000"), Move("c", END),  # started, then ended
        Move("d", END), Move("d", "6.0"),  # ended, then moved without a slot: none
    ]  # fmt: skip
    await emitter.advance(TOKEN, moves, [], 1000)
    assert await _schedule(r, keys, "a") == (5.0, b"5000")
    assert await _schedule(r, keys, "b") == (4.0, b"3000")
    assert await _schedule(r, keys, "c") == (None, None)
    assert await _schedule(r, keys, "d") == (6.0, None)
    assert await _schedule(r, keys, "kept") == (1.0, b"1000")


async def test_many_moves_in_one_call_are_all_written(
    r: Redis, keys: Keys, emitter: Emitter
) -> None:
    moves = [Move(f"t{i}", f"{i}.5", str(i)) for i in range(5000)]
    await emitter.advance(TOKEN, moves, [], 1000)
    assert await r.zcard(keys.schedule_next) == 5001
    assert await r.hlen(keys.schedule_slots) == 5001
    assert await _schedule(r, keys, "t4999") == (4999.5, b"4999")


async def test_counters_of_one_call_add_up_per_item(r: Redis, keys: Keys, emitter: Emitter) -> None:
    # Three fires 0, 20 and 700 ms late and two decisions of one task, in one call.
    now_ms = 10_000_700
    items = [_fire("a", 10_000_700), _fire("b", 10_000_680), _fire("c", 10_000_000)]
    skipped = Decision(slot="1", outcome=Outcome.SKIPPED)
    (call,) = emitter.pack(items, [], [("a", skipped), ("a", skipped)])
    assert await emitter.send(TOKEN, now_ms, call) == [1, 1, 1]
    late = {k.decode(): v.decode() for k, v in (await r.hgetall(keys.lateness)).items()}
    assert late == {"le_0.005": "1", "le_0.025": "1", "le_1": "1", "sum_ms": "720"}
    tally = await r.hgetall(keys.decision_tally)
    assert tally[decision_field("skipped", "", "a").encode()] == b"2"
    assert tally[decision_field("fired", "", "a").encode()] == b"1"


async def test_counters_of_many_tasks_in_one_call_add_to_what_was_counted(
    r: Redis, keys: Keys, emitter: Emitter
) -> None:
    names = [f"t{i}" for i in range(30)]  # more fields than one call increments one by one
    for slot in (10_000_000, 10_060_000):
        await emitter.emit(TOKEN, [_fire(n, slot) for n in names], slot + 3)
    tally = await r.hgetall(keys.decision_tally)
    assert {tally[decision_field("fired", "", n).encode()] for n in names} == {b"2"}
    assert await r.hget(keys.lateness, "le_0.005") == b"60"
    assert await r.hget(keys.lateness, "sum_ms") == b"180"  # 3 ms late, 60 times


async def test_a_call_with_a_lookahead_says_what_is_due_next(
    r: Redis, keys: Keys, emitter: Emitter
) -> None:
    await r.delete(keys.schedule_next, keys.schedule_slots)
    item = _fire("a", 1_000, then=Move("a", "2.5", "2500"))
    (call,) = emitter.pack([item], [Move("b", "2.5", "2500"), Move("c", "9.0", "9000")])
    await r.zadd(keys.schedule_retries, {"r|a:1|2|schedule|1.0": 2.5, "r|later": 8.0})
    await emitter.send(TOKEN, 1_000, replace(call, ahead=True))
    ahead = emitter.take_ahead()
    assert ahead is not None and emitter.take_ahead() is None
    assert (ahead.at, ahead.bound, ahead.count) == (2.5, 2.5, 3)
    assert ahead.due == {"a": b"2500", "b": b"2500"}
    assert ahead.retries == ["r|a:1|2|schedule|1.0"]
    # The same, read alone; later than the head, everything due by then is listed.
    assert await peek(r, keys, 1.0) == ahead
    late = await peek(r, keys, 9.0)
    assert (late.at, late.bound, late.count) == (2.5, 9.0, 5)
    assert late.covers(9.0) and not late.covers(9.5)


async def test_a_lookahead_over_its_limit_only_counts(
    r: Redis, keys: Keys, emitter: Emitter
) -> None:
    await r.zadd(keys.schedule_next, {f"t{i}": 1.0 for i in range(LISTED + 1)})
    ahead = await peek(r, keys, 0.0)
    assert (ahead.at, ahead.count, ahead.due, ahead.retries) == (1.0, LISTED + 2, None, None)
    await r.delete(keys.schedule_next)
    assert await peek(r, keys, 0.0) == NOTHING
