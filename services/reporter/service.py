"""The reporter service: keeps the read model from ``task.result`` events."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Final

from services.reporter.record import result_batch
from shared.config.models import Config
from shared.contract.events import TaskResult
from shared.contract.keys import REPORTER_GROUP, Keys
from shared.runtime.clock import Clock, SystemClock
from shared.runtime.logging import get_logger
from shared.runtime.loop import repeat_until
from shared.runtime.redis import (
    BLOCK_MS,
    Entry,
    Redis,
    consumer_name,
    dead_letter,
    decode_or_dead_letter,
    ensure_group,
    read_group,
)

log = get_logger("watchkeeper.reporter")
RETENTION_S: Final = 30 * 86_400
"""How long result hashes and daily metrics are kept (30 days)."""


@dataclass
class Reporter:
    """One reporter replica (consumer in group ``reporter`` on the results stream)."""

    r: Redis
    config: Config
    clock: Clock = field(default_factory=SystemClock)
    name: str = field(default_factory=lambda: consumer_name("reporter"))
    retention_s: int = RETENTION_S
    keys: Keys = field(init=False)
    _retry_pending: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.keys = Keys(self.config.namespace)

    async def start(self) -> None:
        """Create the group on the results stream."""
        await ensure_group(self.r, self.keys.results, REPORTER_GROUP)

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop``; first finishes what this consumer had pending."""
        await self.start()
        await self.run_once(pending=True, block_ms=None)
        await repeat_until(stop, self.run_once, name="reporter")

    async def run_once(self, *, block_ms: int | None = BLOCK_MS, pending: bool = False) -> int:
        """Record one batch of results; return how many entries were handled.

        After a failed batch the next call re-reads this consumer's own pending entries
        first, so a result is never left unrecorded until a restart.
        """
        pending = pending or self._retry_pending
        entries = await read_group(
            self.r, [self.keys.results], REPORTER_GROUP, self.name,
            count=200, block_ms=None if pending else block_ms, pending=pending,
        )  # fmt: skip
        self._retry_pending = True
        for entry in entries:
            await self._handle(entry)
        self._retry_pending = False
        return len(entries)

    async def _handle(self, entry: Entry) -> None:
        event = await decode_or_dead_letter(
            self.r, self.keys, entry, REPORTER_GROUP, reader=self.name
        )
        if event is None:
            return
        if not isinstance(event, TaskResult):
            reason = f"{event.TYPE} does not belong on {entry.stream}"
            await dead_letter(self.r, self.keys, entry, REPORTER_GROUP, reason, reader=self.name)
            return
        await self.record(event)
        await self.r.xack(entry.stream, REPORTER_GROUP, entry.entry_id)

    async def record(self, result: TaskResult) -> bool:
        """Write the read model for ``result`` once; False if it was already recorded."""
        marker = self.keys.counter(f"recorded:{result.run_id}:{result.attempt}")
        applied, refused = await result_batch(self.keys, result, self.retention_s).apply(
            self.r, marker, self.retention_s * 1000
        )
        if refused:
            log.error("reporter.writes_refused", run_id=result.run_id, errors=refused)
        log.debug("reporter.recorded", run_id=result.run_id, duplicate=not applied)
        return applied
