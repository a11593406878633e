"""Task definitions in Redis: the scheduler's source of truth.

``apply`` (CLI/``up``) and the API write definitions here; the scheduler reads them
and hears about changes through ``control.task_changed`` events.
"""

from __future__ import annotations

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


async def apply(r: Redis, keys: Keys, config: Config, *, prune: bool = True) -> dict[str, str]:
    """Sync the config's tasks into Redis; returns task → created|updated|unchanged|deleted."""
    current = await r.hgetall(keys.taskdefs)
    stored = {text(k): v for k, v in current.items()}
    changes: dict[str, str] = {}
    async with r.pipeline(transaction=True) as pipe:
        for name, task in config.tasks.items():
            body = dump(task)
            if stored.get(name) == body:
                changes[name] = "unchanged"
                continue
            changes[name] = "updated" if name in stored else "created"
            pipe.hset(keys.taskdefs, name, body)
            pipe.xadd(keys.control, encode(TaskChanged(task=name)))  # type: ignore[arg-type]
        for name in set(stored) - set(config.tasks) if prune else ():
            changes[name] = "deleted"
            pipe.hdel(keys.taskdefs, name)
            pipe.xadd(keys.control, encode(TaskChanged(task=name, deleted=True)))  # type: ignore[arg-type]
        await pipe.execute()
    return changes


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
