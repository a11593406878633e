"""The scheduler service: turns triggers (and, later, schedules) into ``task.due``.

Reads ``{ns}:stream:triggers`` and ``{ns}:stream:control`` through the ``scheduler``
group; refusals (unknown task, emergency not allowed, bad entries) are dead-lettered
with the reason.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from services.scheduler.emitter import Emitter
from services.scheduler.occurrence import due_from_trigger, refusal
from shared import taskdefs
from shared.clock import Clock, SystemClock
from shared.config import Config, TaskConfig
from shared.events import TaskChanged, TriggerEmergency, TriggerRun
from shared.keys import SCHEDULER_GROUP, Keys
from shared.logging import get_logger
from shared.loop import repeat_until
from shared.redis import (
    BLOCK_MS,
    Entry,
    Redis,
    consumer_name,
    dead_letter,
    decode_or_dead_letter,
    ensure_group,
    read_group,
)

log = get_logger("watchkeeper.scheduler")


@dataclass
class Scheduler:
    """One scheduler replica. ``run_once`` handles one batch of events (tests drive it)."""

    r: Redis
    config: Config
    clock: Clock = field(default_factory=SystemClock)
    name: str = field(default_factory=lambda: consumer_name("scheduler"))
    keys: Keys = field(init=False)
    tasks: dict[str, TaskConfig] = field(default_factory=dict)
    emitter: Emitter = field(init=False)

    def __post_init__(self) -> None:
        self.keys = Keys(self.config.namespace)
        self.emitter = Emitter(self.r, self.keys)

    async def start(self) -> None:
        """Create the groups and load task definitions."""
        for stream in (self.keys.triggers, self.keys.control):
            await ensure_group(self.r, stream, SCHEDULER_GROUP)
        self.tasks = await taskdefs.load_all(self.r, self.keys)
        log.info("scheduler.started", name=self.name, tasks=len(self.tasks))

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set; survives Redis outages by retrying."""
        await self.start()
        await self.run_once(pending=True)
        await repeat_until(stop, self.run_once, name="scheduler")

    async def run_once(self, *, block_ms: int | None = BLOCK_MS, pending: bool = False) -> int:
        """Read and handle one batch of trigger/control entries; return how many."""
        entries = await read_group(
            self.r, [self.keys.control, self.keys.triggers], SCHEDULER_GROUP, self.name,
            count=500, block_ms=block_ms, pending=pending,
        )  # fmt: skip
        for entry in entries:
            await self._handle(entry)
        return len(entries)

    async def _handle(self, entry: Entry) -> None:
        event = await decode_or_dead_letter(
            self.r, self.keys, entry, SCHEDULER_GROUP, reader=self.name
        )
        if isinstance(event, TriggerRun | TriggerEmergency):
            await self._trigger(entry, event)
        elif isinstance(event, TaskChanged):
            await self._reload(event)
            await self.r.xack(entry.stream, SCHEDULER_GROUP, entry.entry_id)
        elif event is not None:
            await dead_letter(
                self.r, self.keys, entry, SCHEDULER_GROUP,
                f"{event.TYPE} does not belong on {entry.stream}", reader=self.name,
            )  # fmt: skip

    async def _reload(self, event: TaskChanged) -> None:
        task = None if event.deleted else await taskdefs.load(self.r, self.keys, event.task)
        if task is None:
            self.tasks.pop(event.task, None)
        else:
            self.tasks[event.task] = task
        log.info("scheduler.task_changed", task=event.task, deleted=task is None)

    async def _trigger(self, entry: Entry, event: TriggerRun | TriggerEmergency) -> None:
        task = self.tasks.get(event.task)
        reason = refusal(event, task)
        if reason is not None or task is None:
            await dead_letter(
                self.r, self.keys, entry, SCHEDULER_GROUP, reason or "refused", reader=self.name
            )
            return
        due = due_from_trigger(event, task, entry_id=entry.entry_id, now=self.clock.time())
        emitted = await self.emitter.emit(due, ack=(entry, SCHEDULER_GROUP))
        log.info(
            "scheduler.triggered", task=due.task, run_id=due.run_id, trigger=due.trigger,
            duplicate=not emitted, requested_by=event.requested_by,
        )  # fmt: skip

    def describe(self) -> dict[str, Any]:
        """State for status displays."""
        return {"name": self.name, "tasks": sorted(self.tasks)}
