"""``taskdefs.apply`` in chunks: every task compared, written and announced exactly once."""

from __future__ import annotations

from typing import Any

from shared.config import taskdefs
from shared.config.models import Config
from shared.contract.codec import decode
from shared.contract.events import TaskChanged
from shared.contract.keys import Keys
from shared.runtime.redis import Redis, text

N = taskdefs.APPLY_CHUNK * 2 + 7  # more than two chunks, the last one partial


def _config(keys: Keys, names: range, argv: str = "true") -> Config:
    tasks = {f"t{i:05d}": {"handler": "command", "params": {"argv": [argv]}} for i in names}
    return Config.model_validate({"namespace": keys.ns, "tasks": tasks})


async def _events(r: Redis, keys: Keys) -> list[TaskChanged]:
    entries: Any = await r.xrange(keys.control)
    events = [decode(fields) for _, fields in entries]
    assert all(isinstance(e, TaskChanged) for e in events)
    return events  # type: ignore[return-value]


async def test_apply_across_chunks_creates_updates_keeps_and_prunes(r: Redis, keys: Keys) -> None:
    first = await taskdefs.apply(r, keys, _config(keys, range(N)))
    assert list(first.values()).count("created") == N
    assert await r.hlen(keys.taskdefs) == N
    assert len(await _events(r, keys)) == N
    await r.delete(keys.control)

    # Keep the first chunk as is, change the rest of the first N - 500, drop the last 500.
    kept = range(taskdefs.APPLY_CHUNK)
    changed = range(taskdefs.APPLY_CHUNK, N - 500)
    tasks = {**_config(keys, kept).tasks, **_config(keys, changed, "false").tasks}
    config = _config(keys, kept).model_copy(update={"tasks": tasks})
    second = await taskdefs.apply(r, keys, config)

    assert {n for n, c in second.items() if c == "unchanged"} == {f"t{i:05d}" for i in kept}
    assert {n for n, c in second.items() if c == "updated"} == {f"t{i:05d}" for i in changed}
    assert {n for n, c in second.items() if c == "deleted"} == {
        f"t{i:05d}" for i in range(N - 500, N)
    }
    events = await _events(r, keys)
    assert sorted(e.task for e in events if not e.deleted) == [f"t{i:05d}" for i in changed]
    assert len([e for e in events if e.deleted]) == 500
    stored = {text(k): v for k, v in (await r.hgetall(keys.taskdefs)).items()}
    assert len(stored) == N - 500
    assert taskdefs.parse(stored[f"t{N - 501:05d}"]).params == {"argv": ["false"]}
    assert taskdefs.parse(stored["t00000"]).params == {"argv": ["true"]}


async def test_apply_with_keep_leaves_other_tasks(r: Redis, keys: Keys) -> None:
    await taskdefs.apply(r, keys, _config(keys, range(3)))
    changes = await taskdefs.apply(r, keys, _config(keys, range(1)), prune=False)
    assert changes == {"t00000": "unchanged"}
    assert await r.hlen(keys.taskdefs) == 3


async def test_an_equal_definition_stored_with_every_field_is_rewritten_compact_silently(
    r: Redis, keys: Keys
) -> None:
    config = _config(keys, range(2))
    full = {n: t.model_dump_json().encode() for n, t in config.tasks.items()}
    await r.hset(keys.taskdefs, mapping=full)  # as an earlier version stored them
    changes = await taskdefs.apply(r, keys, config)
    assert changes == {"t00000": "unchanged", "t00001": "unchanged"}
    assert await _events(r, keys) == []
    stored = await r.hget(keys.taskdefs, "t00000")
    assert stored == taskdefs.dump(config.tasks["t00000"])
    assert stored is not None and len(stored) < len(full["t00000"]) // 4


async def test_a_definition_that_no_longer_reads_is_replaced(r: Redis, keys: Keys) -> None:
    await r.hset(keys.taskdefs, "t00000", '{"handler": "command", "retired_field": 1}')
    assert await taskdefs.apply(r, keys, _config(keys, range(1))) == {"t00000": "updated"}
    assert [e.task for e in await _events(r, keys)] == ["t00000"]
