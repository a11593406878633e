"""Rollback points indexed in Redis: save, list, verify, restore and prune, files included.

Each point is a hash ``keys.rollback(id)`` (field ``point``: the msgpack-encoded
:meth:`RollbackPoint.to_dict`, plus a few plain fields for quick reads) and a member of
the sorted set ``keys.rollbacks`` scored by ``created_at``. The preserved files live
under ``store_dir/<id>/``; deleting a point removes both.
"""

from __future__ import annotations

import asyncio
import builtins
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from shared.contract.codec import pack, unpack
from shared.contract.keys import Keys
from shared.runtime.clock import Clock
from shared.runtime.logging import get_logger
from shared.runtime.redis import Redis
from shared.runtime.rollbacks.points import (
    RestoreReport,
    RollbackError,
    RollbackPoint,
    point_dir,
    restore,
    verify,
)

DEFAULT_MAX_COUNT: Final = 50
DEFAULT_MAX_AGE_S: Final = 30 * 24 * 3600
DEFAULT_MAX_TOTAL_BYTES: Final = 1024**3
RESTORE_FIELDS: Final = ("restored_at", "restored_reason", "restored_by")

log = get_logger("watchkeeper.rollback")


class RollbackNotFound(RollbackError, KeyError):
    """No rollback point with this id."""


def select_prunable(
    entries: Sequence[tuple[str, float, int]],
    *,
    now: float,
    max_age_s: float,
    max_count: int,
    max_total_bytes: int,
) -> list[str]:
    """Ids to remove from ``(id, created_at, total_bytes)`` entries, oldest first.

    Older than ``max_age_s`` goes first; then the oldest beyond ``max_count``; then the
    oldest until the rest fit in ``max_total_bytes`` — but the size budget never removes
    the newest point, the one most likely to be needed.
    """
    ordered = sorted(entries, key=lambda e: (e[1], e[0]))
    doomed = {pid for pid, created, _ in ordered if created < now - max_age_s}
    kept = [e for e in ordered if e[0] not in doomed]
    excess = max(0, len(kept) - max(max_count, 0))
    doomed.update(pid for pid, _, _ in kept[:excess])
    kept = kept[excess:]
    total = sum(size for _, _, size in kept)
    for pid, _, size in kept[:-1]:
        if total <= max_total_bytes:
            break
        doomed.add(pid)
        total -= size
    return [pid for pid, _, _ in ordered if pid in doomed]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class PointStore:
    """Indexes, lists, verifies, restores and prunes rollback points of one namespace
    (the executor's ``RollbackStore`` adds creating them from a handler's plan)."""

    def __init__(self, redis: Redis, keys: Keys, store_dir: Path, clock: Clock) -> None:
        self.redis = redis
        self.keys = keys
        self.store_dir = Path(store_dir)
        self.clock = clock

    async def save(self, point: RollbackPoint) -> None:
        """Write the point's hash and index it by ``created_at`` (one transaction)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                self.keys.rollback(point.id),
                mapping={
                    "point": pack(point.to_dict()),
                    "task": point.task,
                    "run_id": point.run_id,
                    "created_at": point.created_at,
                    "total_bytes": point.total_bytes,
                    "files": len(point.files),
                },
            )
            pipe.zadd(self.keys.rollbacks, {point.id: point.created_at})
            await pipe.execute()

    async def restored(self, point_id: str) -> dict[str, str | float]:
        """When, why and by whom a point was last restored (empty if never)."""
        raw = await self.redis.hmget(self.keys.rollback(point_id), list(RESTORE_FIELDS))
        return {f: (float(v) if f == "restored_at" else _text(v))
                for f, v in zip(RESTORE_FIELDS, raw, strict=True) if v is not None}  # fmt: skip

    async def get(self, point_id: str) -> RollbackPoint | None:
        """The point with this id, or None; :class:`RollbackError` if its record is corrupt."""
        raw: Any = await self.redis.hget(self.keys.rollback(point_id), "point")
        return None if raw is None else self._decode(point_id, raw)

    async def list(self, limit: int = DEFAULT_MAX_COUNT) -> builtins.list[RollbackPoint]:
        """Up to ``limit`` points, newest first (ids whose hash vanished are skipped)."""
        ids = [_text(i) for i in await self.redis.zrevrange(self.keys.rollbacks, 0, limit - 1)]
        async with self.redis.pipeline(transaction=False) as pipe:
            for pid in ids:
                pipe.hget(self.keys.rollback(pid), "point")
            raws = await pipe.execute()
        return [self._decode(pid, raw) for pid, raw in zip(ids, raws, strict=True) if raw]

    async def verify(self, point_id: str) -> builtins.list[str]:
        """Problems with the preserved data of a point (empty when it can be restored)."""
        return await asyncio.to_thread(verify, await self._require(point_id))

    async def restore(
        self, point_id: str, *, reason: str | None = None, by: str | None = None
    ) -> RestoreReport:
        """Verify, then restore a point (see :func:`points.restore`); records
        ``restored_at`` (and why and by whom, when given).

        Raises :class:`RollbackNotFound` or :class:`RollbackIntegrityError`.
        """
        point = await self._require(point_id)
        try:
            report = await asyncio.to_thread(restore, point)
        except RollbackError as exc:
            log.error("rollback.refused", rollback_id=point_id, error=str(exc))
            raise
        record: dict[str, str | float] = {"restored_at": self.clock.time()}
        record |= {k: v for k, v in (("restored_reason", reason), ("restored_by", by)) if v}
        await self.redis.hset(self.keys.rollback(point_id), mapping=record)  # type: ignore[arg-type]
        log.info("rollback.restored", rollback_id=point_id, task=point.task, reason=reason,
                 restored=len(report.restored), removed=len(report.removed))  # fmt: skip
        return report

    async def delete(self, point_id: str) -> bool:
        """Remove a point's record and preserved files; False when the record was absent.

        The record goes first: a crash in between leaves an unreferenced directory,
        never a listed point whose files are gone.
        """
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.rollback(point_id))
            pipe.zrem(self.keys.rollbacks, point_id)
            deleted, _ = await pipe.execute()
        await self._remove_files(point_id)
        return bool(deleted)

    async def prune(
        self,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        max_count: int = DEFAULT_MAX_COUNT,
        max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    ) -> builtins.list[str]:
        """Delete points by age, count and total size (see :func:`select_prunable`)."""
        doomed = select_prunable(
            await self._index(),
            now=self.clock.time(),
            max_age_s=max_age_s,
            max_count=max_count,
            max_total_bytes=max_total_bytes,
        )
        for pid in doomed:
            await self.delete(pid)
        if doomed:
            log.info("rollback.pruned", removed=len(doomed))
        return doomed

    async def _index(self) -> builtins.list[tuple[str, float, int]]:
        members: Any = await self.redis.zrange(self.keys.rollbacks, 0, -1, withscores=True)
        ids = [_text(m) for m, _ in members]
        async with self.redis.pipeline(transaction=False) as pipe:
            for pid in ids:
                pipe.hget(self.keys.rollback(pid), "total_bytes")
            sizes = await pipe.execute()
        return [
            (pid, float(score), int(size or 0))
            for pid, (_, score), size in zip(ids, members, sizes, strict=True)
        ]

    async def _require(self, point_id: str) -> RollbackPoint:
        point = await self.get(point_id)
        if point is None:
            raise RollbackNotFound(f"no rollback point {point_id!r}")
        return point

    def _decode(self, point_id: str, raw: bytes) -> RollbackPoint:
        try:
            return RollbackPoint.from_dict(unpack(raw))
        except (ValueError, KeyError, TypeError) as exc:
            raise RollbackError(f"rollback point {point_id} has an unreadable record") from exc

    async def _remove_files(self, point_id: str) -> None:
        target = point_dir(self.store_dir, point_id)
        await asyncio.to_thread(shutil.rmtree, target, True)
