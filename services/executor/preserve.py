"""Rollback points around a file-changing run (the attempt protocol's side of it).

Before a handler with a planner acts, every path its plan touches is preserved through
the :class:`~services.executor.rollback.RollbackStore`. With ``rollback: auto`` a
failed, timed-out or interrupted run is restored; ``manual`` keeps the point for an
operator (``watchkeeper rollbacks restore ID``); ``off`` preserves nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any

from services.executor.handlers.base import RunContext
from services.executor.handlers.registry import HandlerSpec
from services.executor.outcomes import after_rollback
from services.executor.rollback import RollbackStore
from shared.contract.events import TaskDue, TaskResult
from shared.runtime.rollbacks import RollbackError, RollbackPoint


@dataclass
class Preserver:
    """Creates a point before acting and restores it when the run should be undone."""

    store: RollbackStore | None
    max_age_s: float = 30 * 86400.0
    max_count: int = 50
    max_bytes: int = 1 << 30

    async def prepare(
        self, spec: HandlerSpec, ctx: RunContext, params: Any, due: TaskDue
    ) -> RollbackPoint | None:
        """Preserve what ``spec`` plans to change; None when nothing needs preserving.

        Raises when the point cannot be made: the handler must then not run at all.
        """
        if spec.plan is None or due.rollback == "off" or self.store is None:
            return None
        plan = await spec.plan(ctx, params)
        point = await self.store.create_for_plan(plan, due.task, due.run_id)
        if point is not None:
            ctx.log.info("rollback.point_created", rollback_id=point.id, files=len(point.files))
            # Pruning as points are made keeps the store bounded without a janitor;
            # the newest point (this one) is never pruned for size.
            await self.store.prune(self.max_age_s, self.max_count, self.max_bytes)
        return point

    async def settle(
        self, result: TaskResult, point: RollbackPoint | None, due: TaskDue, log: Any
    ) -> TaskResult:
        """Attach the point to ``result``; restore it if the run failed under ``auto``."""
        if point is None:
            return result
        result = replace(result, rollback_id=point.id)
        if due.rollback != "auto" or result.status not in ("failed", "timed_out"):
            return result
        try:
            report = await self.restore(point)
        except RollbackError as exc:
            log.error("rollback.restore_failed", rollback_id=point.id, error=str(exc))
            details = {**result.details, "rollback_error": str(exc)}
            return replace(result, details=details)
        details = {**result.details, "rollback": {"restored": len(report.restored),
                                                  "removed": len(report.removed)}}  # fmt: skip
        log.info("rollback.auto_restored", rollback_id=point.id)
        return replace(result, status=after_rollback(result.status), details=details,
                       message=f"rolled back after: {result.message}")  # fmt: skip

    async def restore(self, point: RollbackPoint) -> Any:
        """Restore ``point`` even if the caller is being cancelled (half a restore is worse)."""
        assert self.store is not None
        return await asyncio.shield(self.store.restore(point.id))

    async def undo_interrupted(self, point: RollbackPoint | None, due: TaskDue, log: Any) -> None:
        """On shutdown mid-run under ``auto``: put the files back before redelivery."""
        if point is None or due.rollback != "auto":
            return
        try:
            await self.restore(point)
            log.info("rollback.restored_after_interrupt", rollback_id=point.id)
        except RollbackError as exc:
            log.error("rollback.restore_failed", rollback_id=point.id, error=str(exc))
