"""Each task's decisions: a capped list of msgpack entries, newest first, that the
emission script writes and :func:`~shared.contract.decisions.recent` reads, including a
decisions stream an older version left (turned into the list when next appended to)."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from services.scheduler.emitter import Emission, Emitter
from services.scheduler.occurrence import make_due
from shared.config.models import TaskConfig
from shared.contract.decisions import Cause, Decision, Outcome, recent
from shared.contract.emission import EmitCode
from shared.contract.keys import Keys
from shared.contract.records import RecordError
from shared.runtime.redis import Redis

TOKEN = "1:test"


def _emission(task: str, slot: str) -> Emission:
    spec = TaskConfig(handler="command", overlap="allow")
    due = make_due(task, spec, slot=slot, trigger="schedule", scheduled_for=1.0, emitted_at=1.0)
    return Emission(due=due, slot=slot, overlap="allow", lease_ms=60_000)


async def _fire(r: Redis, keys: Keys, slots: range, kept: int = 1000) -> list[EmitCode]:
    await r.set(keys.scheduler_leader, TOKEN)
    emitter = Emitter(r, keys, decisions_kept=kept)
    return await emitter.emit(TOKEN, [_emission("a", str(s)) for s in slots], 5000)


def test_an_entry_reads_back_as_the_decision_it_was() -> None:
    made = Decision(slot="m1-0", outcome=Outcome.REFUSED, cause=Cause.DISABLED,
                    reason="disabled", at_ms=1234)  # fmt: skip
    assert Decision.from_entry(made.entry()) == made
    assert set(msgpack.unpackb(Decision(slot="1", outcome=Outcome.FIRED).entry())) == {
        "slot",
        "outcome",
        "at_ms",
    }  # empty fields are left out


@pytest.mark.parametrize("blob", [b"\xc1", msgpack.packb([1, 2]), msgpack.packb({"slot": "1"})])
def test_an_unreadable_entry_is_named(blob: bytes) -> None:
    with pytest.raises(RecordError, match="Decision"):
        Decision.from_entry(blob)


async def test_the_list_keeps_the_newest_decisions_newest_first(r: Redis, keys: Keys) -> None:
    # decisions_kept 10: trimmed back to 10 when it would hold 12 (a tenth more)
    assert await _fire(r, keys, range(1, 12), kept=10) == [EmitCode.EMITTED] * 11
    assert await r.llen(keys.decisions("a")) == 11
    await _fire(r, keys, range(12, 16), kept=10)
    assert await r.llen(keys.decisions("a")) == 11  # 10 after the 12th, then 13 … 15
    shown = await recent(r, keys, "a", count=20)
    assert [(d.slot, d.outcome, d.run_id, d.at_ms) for d in shown] == [
        (str(s), Outcome.FIRED, f"a:{s}", 5000) for s in range(5, 16)
    ]
    assert [d.slot for d in await recent(r, keys, "a", count=3)] == ["13", "14", "15"]
    assert await recent(r, keys, "a", count=0) == []


async def test_one_decision_takes_a_few_hundred_bytes(r: Redis, keys: Keys) -> None:
    await _fire(r, keys, range(1, 2))
    used: Any = await r.memory_usage(keys.decisions("a"))
    assert used < 400  # a stream's first node alone preallocates 4 KB


async def _legacy(r: Redis, keys: Keys, n: int) -> list[Decision]:
    """``n`` decisions in a stream, as versions before the list wrote them."""
    made = [Decision(slot=f"p{i}", outcome=Outcome.SKIPPED, cause=Cause.WINDOW,
                     reason="closed", at_ms=1000 + i) for i in range(n)]  # fmt: skip
    for decision in made:
        await r.xadd(keys.decisions("a"), decision.to_fields())  # type: ignore[arg-type]
    return made


async def test_a_stream_left_by_an_older_version_is_read_then_turned_into_the_list(
    r: Redis, keys: Keys
) -> None:
    made = await _legacy(r, keys, 3)
    assert await recent(r, keys, "a") == made
    assert await _fire(r, keys, range(7, 8)) == [EmitCode.EMITTED]
    assert await r.type(keys.decisions("a")) == b"list"
    shown = await recent(r, keys, "a")
    assert shown[:3] == made
    assert (shown[3].slot, shown[3].outcome) == ("7", Outcome.FIRED)


async def test_a_converted_stream_keeps_only_the_newest_it_may(r: Redis, keys: Keys) -> None:
    made = await _legacy(r, keys, 12)
    await _fire(r, keys, range(7, 8), kept=10)
    shown = await recent(r, keys, "a", count=50)
    assert shown[:10] == made[2:] and len(shown) == 11


async def test_a_foreign_key_costs_the_decision_not_the_fire(r: Redis, keys: Keys) -> None:
    await r.set(keys.decisions("a"), "not ours")
    assert await _fire(r, keys, range(1, 2)) == [EmitCode.EMITTED]
    assert await r.get(keys.decisions("a")) == b"not ours"
    assert await r.xlen(keys.due("normal")) == 1
    assert await r.hget(keys.schedule_state("a"), "fired_slot") == b"1"


async def test_a_long_stream_is_converted_in_order(r: Redis, keys: Keys) -> None:
    """More entries than one LPUSH takes (1,000): pushed in parts, order kept."""
    made = [Decision(slot=f"p{i}", outcome=Outcome.MISSED, cause=Cause.MISFIRE, at_ms=i)
            for i in range(1200)]  # fmt: skip
    async with r.pipeline(transaction=False) as pipe:
        for decision in made:
            pipe.xadd(keys.decisions("a"), decision.to_fields())  # type: ignore[arg-type]
        await pipe.execute()
    await _fire(r, keys, range(7, 8), kept=1500)
    shown = await recent(r, keys, "a", count=2000)
    assert shown[:1200] == made and shown[1200].slot == "7" and len(shown) == 1201


async def test_an_entry_another_writer_left_is_skipped_not_fatal(r: Redis, keys: Keys) -> None:
    await _fire(r, keys, range(1, 2))
    await r.lpush(keys.decisions("a"), b"not msgpack at all", msgpack.packb([1, 2]))
    await _fire(r, keys, range(2, 3))
    assert [d.slot for d in await recent(r, keys, "a")] == ["1", "2"]
