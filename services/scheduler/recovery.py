"""Noticing that Redis lost its data set, and putting the task definitions back.

A Redis restarted on an empty data dir, a FLUSHALL or a failover to an empty replica
takes the definitions with everything else, and nothing else would put them back: ``up``
and a scheduler started with ``-c`` apply their file only at start.

Detection is one GET per lease acquisition: the leader keeps a marker
(``{ns}:deployment``, a random id) and every replica remembers the last one it saw.
Data was lost when a marker this replica saw is gone *and* definitions are missing
(none stored, or one of the file's). A deliberate ``apply --prune`` of every task
leaves the marker in place; a marker deleted by hand with the definitions intact is
simply written again. The file's tasks are then applied again without pruning (a
standalone scheduler never deletes tasks made elsewhere) and one critical alert
``redis.data_lost`` says what was found missing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Final

from shared.config import taskdefs
from shared.contract.codec import encode
from shared.contract.events import AlertRaised
from shared.contract.keys import Keys
from shared.runtime.clock import Clock
from shared.runtime.logging import get_logger
from shared.runtime.probes import missing_groups
from shared.runtime.redis import Redis, text

log = get_logger("watchkeeper.scheduler")
ALERT_KEY: Final = "redis.data_lost"


@dataclass(frozen=True, slots=True)
class Loss:
    """What a leader found missing after Redis lost its data."""

    marker: str
    stored: int
    missing_tasks: list[str]
    missing_groups: dict[str, list[str]] = field(default_factory=dict)

    def describe(self, restored: list[str]) -> str:
        """One paragraph for the alert: what was gone and what was put back."""
        groups = "; ".join(f"{s}: {', '.join(g)}" for s, g in sorted(self.missing_groups.items()))
        missing = ", ".join(self.missing_tasks) or "none from the config"
        return (
            f"Redis lost its data (deployment marker {self.marker} gone). Task definitions: "
            f"{self.stored} stored, missing {missing}; "
            f"re-applied from the config: {', '.join(restored) or 'none'}. "
            f"Consumer groups missing: {groups or 'none'}. History, results, schedule state, "
            "pauses and tasks created outside the config are gone."
        )


@dataclass
class DataGuard:
    """One replica's watch over the data set (the leader acts, standbys observe)."""

    r: Redis
    keys: Keys
    definitions: taskdefs.Packed
    """The config's tasks as stored (packed: a replica holds them only for this)."""
    clock: Clock
    seen: str | None = None
    """The last deployment marker this replica saw (None: none yet)."""

    async def observe(self) -> None:
        """Remember the current marker (standbys call this, so that they can tell a
        loss from a first start if they lead next)."""
        marker = await self.r.get(self.keys.deployment)
        if marker is not None:
            self.seen = text(marker)

    async def check(self) -> Loss | None:
        """Called by a new leader before it loads: after a data loss, re-apply the
        config's tasks and raise the alert; in any case keep the marker in place."""
        marker = await self.r.get(self.keys.deployment)
        if marker is not None:
            self.seen = text(marker)
            return None
        loss = await self._loss()
        restored: list[str] = []
        if loss is not None:
            changes = await taskdefs.apply_stored(self.r, self.keys, self.definitions,
                                                  prune=False)  # fmt: skip
            restored = sorted(n for n, change in changes.items() if change != "unchanged")
        self.seen = uuid.uuid4().hex
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.deployment, self.seen)
            if loss is not None:
                pipe.xadd(self.keys.alerts_stream, encode(self._alert(loss, restored)))  # type: ignore[arg-type]
            await pipe.execute()
        if loss is not None:
            log.error("scheduler.redis_data_lost", missing_tasks=loss.missing_tasks,
                      restored=restored, missing_groups=loss.missing_groups)  # fmt: skip
        return loss

    async def _loss(self) -> Loss | None:
        """The findings when the marker this replica saw is gone with definitions."""
        if self.seen is None:
            return None  # a first start, not a loss
        stored = {text(name) for name in await self.r.hkeys(self.keys.taskdefs)}
        missing = sorted(name for name, _ in self.definitions if name not in stored)
        if stored and not missing:
            return None  # only the marker went (deleted by hand): nothing to restore
        groups = await missing_groups(self.r, self.keys)
        return Loss(self.seen, len(stored), missing, groups)

    def _alert(self, loss: Loss, restored: list[str]) -> AlertRaised:
        now = self.clock.time()
        return AlertRaised(
            alert_id=uuid.uuid4().hex, key=ALERT_KEY, severity="critical",
            title="Redis lost its data; task definitions re-applied",
            message=loss.describe(restored), source="scheduler",
            labels={"namespace": self.keys.ns, "restored": ",".join(restored),
                    "missing_tasks": ",".join(loss.missing_tasks)},
            first_seen=now, last_seen=now,
        )  # fmt: skip
