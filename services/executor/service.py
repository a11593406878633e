"""The executor service: consumes due entries and runs them with bounded concurrency."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from services.executor.attempt import Attempt
from services.executor.intake import Intake
from shared.clock import Clock, SystemClock
from shared.codec import EventDecodeError, decode
from shared.config import Config
from shared.events import TaskDue
from shared.keys import EXECUTORS_GROUP, Keys
from shared.logging import get_logger
from shared.loop import repeat_until
from shared.redis import (
    Entry,
    Redis,
    RedisUnavailable,
    consumer_name,
    dead_letter,
    ensure_group,
)

log = get_logger("watchkeeper.executor")


@dataclass
class Executor:
    """One executor replica (consumer in group ``executors``)."""

    r: Redis
    config: Config
    clock: Clock = field(default_factory=SystemClock)
    id: str = field(default_factory=lambda: consumer_name("executor"))
    keys: Keys = field(init=False)
    inflight: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.keys = Keys(self.config.namespace)
        self.intake = Intake(self.r, self.keys, self.id)
        self.attempt = Attempt(
            self.r, self.keys, self.clock, self.id, tuple(self.config.executor.allowed_roots)
        )
        self._slot_freed = asyncio.Event()

    @property
    def free(self) -> int:
        """Slots not taken by in-flight runs."""
        return self.config.executor.max_concurrent - len(self.inflight)

    async def start(self) -> None:
        """Create the consumer group on every due stream."""
        for stream in self.keys.due_streams:
            await ensure_group(self.r, stream, EXECUTORS_GROUP)
        log.info("executor.started", id=self.id, max_concurrent=self.config.executor.max_concurrent)

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop``; then let in-flight runs finish within the grace period."""
        await self.start()
        try:
            await repeat_until(stop, self.run_once, name="executor")
        finally:
            await self.drain(self.config.executor.grace_period)

    async def run_once(self, block_ms: int = 2_000) -> int:
        """Take what fits in the free slots and start it; wait for work or a slot if idle."""
        if self.free <= 0:
            self._slot_freed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._slot_freed.wait(), block_ms / 1000)
            return 0
        since = await self.intake.last_ids()
        entries = await self.intake.take(self.free)
        for entry in entries:
            await self._start(entry)
        if not entries:
            await self.intake.wait_for_work(since, block_ms)
        return len(entries)

    async def _start(self, entry: Entry) -> None:
        try:
            due = decode(entry.fields)
        except EventDecodeError as exc:
            await dead_letter(self.r, self.keys, entry, EXECUTORS_GROUP, exc.reason, reader=self.id)
            return
        if not isinstance(due, TaskDue):
            reason = f"{due.TYPE} does not belong on {entry.stream}"
            await dead_letter(self.r, self.keys, entry, EXECUTORS_GROUP, reason, reader=self.id)
            return
        task = asyncio.create_task(self._run(entry, due), name=f"run:{due.run_id}")
        self.inflight[entry.entry_id] = task

    async def _run(self, entry: Entry, due: TaskDue) -> None:
        try:
            await self.attempt.run(entry, due)
        except RedisUnavailable as exc:
            log.error("run.publish_failed", run_id=due.run_id, error=str(exc))
        finally:
            self.inflight.pop(entry.entry_id, None)
            self._slot_freed.set()

    async def drain(self, grace_s: float) -> None:
        """Wait up to ``grace_s`` for in-flight runs, then cancel the rest (left unacked)."""
        if not self.inflight:
            return
        log.info("executor.draining", inflight=len(self.inflight), grace_s=grace_s)
        _, pending = await asyncio.wait(list(self.inflight.values()), timeout=grace_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
