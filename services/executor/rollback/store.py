"""The executor's rollback store: creates a point from a handler's plan before it acts.

Everything else about points (listing, verifying, restoring, pruning) is
:class:`shared.runtime.rollbacks.PointStore`, shared with the API and the CLI.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from services.executor.handlers.base import PlannedAction
from shared.runtime.logging import get_logger
from shared.runtime.rollbacks import PointStore, Preserve, RollbackPoint, create_point

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


def preserve_plan(plan: Iterable[PlannedAction]) -> dict[str, Preserve]:
    """Path → how to preserve it; a path touched by several actions is copied if any needs it."""
    paths: dict[str, Preserve] = {}
    for action in plan:
        method = ACTION_PRESERVE.get(action.action, Preserve.COPY)
        if paths.get(action.path) is not Preserve.COPY:
            paths[action.path] = method
    return paths


class RollbackStore(PointStore):
    """A :class:`PointStore` that also creates points for the attempt protocol."""

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
