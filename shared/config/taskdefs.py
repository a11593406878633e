"""Task definitions in Redis: the scheduler's source of truth.

``apply`` (CLI/``up``) and the API write definitions here; the scheduler reads them
and hears about changes through ``control.task_changed`` events.

A definition is stored as compact JSON: only the fields not at their defaults (a
typical task takes about 100 bytes instead of 800), so Redis, the scheduler's working
set and its load (parsing) all shrink with it. A task that leaves a field out follows
that field's default, as the file it came from does.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from typing import Final

import msgpack
from pydantic import ValidationError

from shared.config.models import Config, TaskConfig
from shared.contract.codec import encode
from shared.contract.events import TaskChanged
from shared.contract.keys import Keys
from shared.runtime.redis import Redis, text


def dump(task: TaskConfig) -> bytes:
    """A definition as stored: JSON of the fields not at their defaults (readable with
    redis-cli)."""
    return task.model_dump_json(by_alias=True, exclude_defaults=True).encode()


def parse(raw: bytes | str) -> TaskConfig:
    """Inverse of :func:`dump` (also reads definitions stored with every field)."""
    return TaskConfig.model_validate_json(raw)


def dumped(config: Config) -> Iterator[tuple[str, bytes]]:
    """``(name, stored definition)`` of each of the config's tasks."""
    return ((name, dump(task)) for name, task in config.tasks.items())


@dataclass(frozen=True, slots=True)
class Packed:
    """A file's stored definitions, zlib-compressed in one object (100,000 definitions
    take about 0.7 MB instead of 25 MB as separate objects), for a process that needs
    them again only rarely (``recovery.DataGuard``) and should not hold the parsed file."""

    blob: bytes
    count: int

    @classmethod
    def of(cls, items: Iterable[tuple[str, bytes]]) -> Packed:
        """Pack ``(name, stored definition)`` pairs, one at a time."""
        packer, squeeze = msgpack.Packer(use_bin_type=True), zlib.compressobj()
        parts, count = [], 0
        for pair in items:
            parts.append(squeeze.compress(packer.pack(pair)))
            count += 1
        parts.append(squeeze.flush())
        return cls(b"".join(parts), count)

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        """The pairs again, unpacked as they are read (never all at once)."""
        unpacker, stretch = msgpack.Unpacker(raw=False), zlib.decompressobj()
        for start in range(0, len(self.blob), UNPACK_STEP):
            unpacker.feed(stretch.decompress(self.blob[start : start + UNPACK_STEP]))
            yield from ((name, raw) for name, raw in unpacker)  # whole pairs only
        unpacker.feed(stretch.flush())
        yield from ((name, raw) for name, raw in unpacker)

    def __len__(self) -> int:
        return self.count


UNPACK_STEP: Final = 16_384
"""Compressed bytes of :class:`Packed` unpacked per step."""


async def load_all(r: Redis, keys: Keys) -> dict[str, TaskConfig]:
    """Every stored definition by task name."""
    raw = await r.hgetall(keys.taskdefs)
    return {text(name): parse(value) for name, value in raw.items()}


@lru_cache(maxsize=1024)
def parsed(raw: bytes) -> TaskConfig:
    """:func:`parse`, kept for the same stored bytes (the models are frozen: one instance
    may serve every caller); for readers that read a definition again and again."""
    return parse(raw)


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
    """Sync the config's tasks into Redis; returns task → created|updated|unchanged|deleted
    (see :func:`apply_stored`)."""
    return await apply_stored(r, keys, dumped(config), prune=prune)


async def apply_stored(
    r: Redis, keys: Keys, items: Iterable[tuple[str, bytes]], *, prune: bool = True
) -> dict[str, str]:
    """Sync ``(name, stored definition)`` pairs (:func:`dumped`, :class:`Packed`) into
    Redis; ``prune`` deletes the stored tasks they do not name.

    Works through :data:`APPLY_CHUNK` tasks at a time; each task's definition and its
    change event are written in one transaction, so the scheduler never sees an event
    without its definition (a crash part way leaves the tasks before it applied). A
    definition stored in another form (every field, by an earlier version) but equal is
    rewritten in the compact form without an event: it is unchanged.
    """
    changes: dict[str, str] = {}
    pairs = iter(items)
    while chunk := dict(islice(pairs, APPLY_CHUNK)):
        stored = await r.hmget(keys.taskdefs, list(chunk))
        async with r.pipeline(transaction=True) as pipe:
            for (name, body), old in zip(chunk.items(), stored, strict=True):
                changes[name] = _change(old, body)
                if changes[name] != "unchanged":
                    pipe.xadd(keys.control, encode(TaskChanged(task=name)))  # type: ignore[arg-type]
                if old != body:
                    pipe.hset(keys.taskdefs, name, body)
            await pipe.execute()
    if prune:
        await _prune(r, keys, changes)
    return changes


def _change(old: bytes | str | None, body: bytes) -> str:
    if old is None:
        return "created"
    if old == body:
        return "unchanged"
    try:
        return "unchanged" if dump(parse(old)) == body else "updated"
    except ValidationError:
        return "updated"  # a hand-written definition that no longer reads: replaced


async def _prune(r: Redis, keys: Keys, changes: dict[str, str]) -> None:
    """Delete the stored tasks not named in ``changes`` (noted there as deleted)."""
    gone = [n for n in map(text, await r.hkeys(keys.taskdefs)) if n not in changes]
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
