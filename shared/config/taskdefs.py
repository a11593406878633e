"""Task definitions in Redis: the scheduler's source of truth.

``apply`` (CLI/``up``) and the API write definitions here; the scheduler reads them
and hears about changes through ``control.task_changed`` events.
"""

from __future__ import annotations

from typing import Final

from shared.config.models import Config, TaskConfig
from shared.contract.codec import encode
from shared.contract.events import TaskChanged
from shared.contract.keys import Keys
from shared.runtime.redis import Redis, text


def dump(task: TaskConfig) -> bytes:
    """A definition as stored (JSON, readable with redis-cli)."""
    return task.model_dump_json(by_alias=True).encode()


def parse(raw: bytes | str) -> TaskConfig:
    """Inverse of :func:`dump`."""
    return TaskConfig.model_validate_json(raw)


async def load_all(r: Redis, keys: Keys) -> dict[str, TaskConfig]:
    """Every stored definition by task name."""
    raw = await r.hgetall(keys.taskdefs)
    return {text(name): parse(value) for name, value in raw.items()}


async def load(r: Redis, keys: Keys, task: str) -> TaskConfig | None:
    """One definition, or None."""
    raw = await r.hget(keys.taskdefs, task)
    return parse(raw) if raw is not None else None


async def put(r: Redis, keys: Keys, name: str, task: TaskConfig) -> None:
    """Create or replace one definition and tell the scheduler."""
    async with r.pipeline(transaction=True) as pipe:
        pipe.hset(keys.taskdefs, name, dump(task))
        pipe.xadd(keys.control, encode(TaskChanged(task=name)))  # type: ignore[arg-type]
        await pipe.execute()


APPLY_CHUNK: Final = 1000
"""Tasks compared and written per round trip by :func:`apply`: each chunk is one HMGET
and one transaction, so neither the client nor Redis ever holds the whole file's
writes (one 200,000-command transaction took gigabytes at 100,000 tasks)."""


async def apply(r: Redis, keys: Keys, config: Config, *, prune: bool = True) -> dict[str, str]:
    """Sync the config's tasks into Redis; returns task → created|updated|unchanged|deleted.

    Works through :data:`APPLY_CHUNK` tasks at a time; each task's definition and its
    change event are written in one transaction, so the scheduler never sees an event
    without its definition (a crash part way leaves the tasks before it applied).
    """
    names = list(config.tasks)
    changes: dict[str, str] = {}
    for start in range(0, len(names), APPLY_CHUNK):
        chunk = names[start : start + APPLY_CHUNK]
        stored = await r.hmget(keys.taskdefs, chunk)
        async with r.pipeline(transaction=True) as pipe:
            for name, old in zip(chunk, stored, strict=True):
                body = dump(config.tasks[name])
                if old == body:
                    changes[name] = "unchanged"
                    continue
                changes[name] = "updated" if old is not None else "created"
                pipe.hset(keys.taskdefs, name, body)
                pipe.xadd(keys.control, encode(TaskChanged(task=name)))  # type: ignore[arg-type]
            await pipe.execute()
    if prune:
        await _prune(r, keys, config, changes)
    return changes


async def _prune(r: Redis, keys: Keys, config: Config, changes: dict[str, str]) -> None:
    """Delete the stored tasks the config does not name (noted in ``changes``)."""
    gone = [n for n in map(text, await r.hkeys(keys.taskdefs)) if n not in config.tasks]
    for start in range(0, len(gone), APPLY_CHUNK):
        async with r.pipeline(transaction=True) as pipe:
            for name in gone[start : start + APPLY_CHUNK]:
                changes[name] = "deleted"
                pipe.hdel(keys.taskdefs, name)
                pipe.xadd(keys.control, encode(TaskChanged(task=name, deleted=True)))  # type: ignore[arg-type]
            await pipe.execute()


async def set_enabled(r: Redis, keys: Keys, name: str, enabled: bool) -> TaskConfig | None:
    """Enable or disable a stored task and tell the scheduler (a disabled task keeps its
    definition and state but is not scheduled); returns the new definition, or None when
    there is no such task."""
    task = await load(r, keys, name)
    if task is None:
        return None
    updated = task.model_copy(update={"enabled": enabled})
    if updated != task:
        await put(r, keys, name, updated)
    return updated


async def delete(r: Redis, keys: Keys, name: str) -> bool:
    """Delete a stored definition and tell the scheduler; False when there was none."""
    async with r.pipeline(transaction=True) as pipe:
        pipe.hdel(keys.taskdefs, name)
        pipe.xadd(keys.control, encode(TaskChanged(task=name, deleted=True)))  # type: ignore[arg-type]
        removed, _ = await pipe.execute()
    return bool(removed)
