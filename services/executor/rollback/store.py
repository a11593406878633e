"""Rollback points indexed in Redis: save, list, restore and prune, files included.

Each point is a hash ``keys.rollback(id)`` (field ``point``: the msgpack-encoded
:meth:`RollbackPoint.to_dict`, plus a few plain fields for quick reads) and a member of
the sorted set ``keys.rollbacks`` scored by ``created_at``. The preserved files live
under ``store_dir/<id>/``; deleting a point removes both.
"""

from __future__ import annotations

import asyncio
import builtins
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from services.executor.handlers.base import PlannedAction
from services.executor.rollback.points import (
    Preserve,
    RestoreReport,
    RollbackError,
    RollbackPoint,
    create_point,
    point_dir,
    restore,
    verify,
)
from shared.contract.codec import pack, unpack
from shared.contract.keys import Keys
from shared.runtime.clock import Clock
from shared.runtime.logging import get_logger
from shared.runtime.redis import Redis

DEFAULT_MAX_COUNT: Final = 50
DEFAULT_MAX_AGE_S: Final = 30 * 24 * 3600
DEFAULT_MAX_TOTAL_BYTES: Final = 1024**3

ACTION_PRESERVE: Final[Mapping[str, Preserve]] = {
    # The file disappears or is renamed away: its inode is never written, a link is safe.
    "delete": Preserve.LINK,
    "compress": Preserve.LINK,
    "move": Preserve.LINK,
    # Rotation may be copytruncate and writes may be in place: only a copy is safe.
    "rotate": Preserve.COPY,
    "write": Preserve.COPY,
}
"""How each :class:`PlannedAction` kind is preserved; unknown kinds are copied."""

log = get_logger("watchkeeper.rollback")


class RollbackNotFound(RollbackError, KeyError):
    """No rollback point with this id."""


def preserve_plan(plan: Iterable[PlannedAction]) -> dict[str, Preserve]:
    """Path → how to preserve it; a path touched by several actions is copied if any needs it."""
    paths: dict[str, Preserve] = {}
    for action in plan:
        method = ACTION_PRESERVE.get(action.action, Preserve.COPY)
        if paths.get(action.path) is not Preserve.COPY:
            paths[action.path] = method
    return paths


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


class RollbackStore:
    """Creates, indexes, restores and prunes rollback points of one namespace."""

    def __init__(self, redis: Redis, keys: Keys, store_dir: Path, clock: Clock) -> None:
        self.redis = redis
        self.keys = keys
        self.store_dir = Path(store_dir)
        self.clock = clock

    async def create_for_plan(
        self, plan: Sequence[PlannedAction], task: str, run_id: str
    ) -> RollbackPoint | None:
        """Preserve every file ``plan`` touches and save the point; None for an empty plan.

        Called by the attempt protocol before a file-changing handler acts. Paths the plan
        names that do not exist yet are recorded as absent (a restore removes them).
        """
        paths = preserve_plan(plan)
        if not paths:
            return None
        point = await create_point(
            self.store_dir, dict(paths.items()), task=task, run_id=run_id, clock=self.clock
        )
        try:
            await self.save(point)
        except BaseException:
            await self._remove_files(point.id)
            raise
        log.info("rollback.created", rollback_id=point.id, task=task, run_id=run_id,
                 files=len(point.files), total_bytes=point.total_bytes)  # fmt: skip
        return point

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

    async def restore(self, point_id: str) -> RestoreReport:
        """Verify, then restore a point (see :func:`points.restore`); records ``restored_at``.

        Raises :class:`RollbackNotFound` or :class:`RollbackIntegrityError`.
        """
        point = await self._require(point_id)
        try:
            report = await asyncio.to_thread(restore, point)
        except RollbackError as exc:
            log.error("rollback.refused", rollback_id=point_id, error=str(exc))
            raise
        await self.redis.hset(self.keys.rollback(point_id), "restored_at", self.clock.time())
        log.info("rollback.restored", rollback_id=point_id, task=point.task,
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
