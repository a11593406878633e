"""The archiver: its own consumer group ``archive`` on the results and alerts streams,
writing each batch to PostgreSQL (:class:`~.store.ArchiveStore`).

Entries are acked only once their rows are committed. While PostgreSQL is unreachable
the batch is held (pending, no failure counted) and read again after a capped backoff,
so the archive catches up by itself when the database is back. An entry whose row
PostgreSQL refuses is retried alone and, after repeated failures, dead-lettered by the
consumer loop like any other bad entry.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Final

from services.reporter.archive.store import ArchiveStore, ArchiveUnavailable
from shared.config.models import Config
from shared.contract.events import AlertRaised, AlertResolved, TaskResult
from shared.contract.keys import ARCHIVE_GROUP, Keys
from shared.runtime.clock import Clock, SystemClock
from shared.runtime.consume import Batch, Consumer, Received
from shared.runtime.logging import get_logger
from shared.runtime.loop import repeat_until
from shared.runtime.redis import BLOCK_MS, Redis, consumer_name, ensure_group
from shared.runtime.throttle import LogThrottle

log = get_logger("watchkeeper.archive")
PRUNE_EVERY_S: Final = 3600.0
"""How often rows past ``database.retention`` are deleted (by every replica: idempotent)."""


@dataclass
class Archiver:
    """One archiver replica (consumer in group ``archive``); needs ``database.url``."""

    r: Redis
    config: Config
    clock: Clock = field(default_factory=SystemClock)
    name: str = field(default_factory=lambda: consumer_name("archive"))
    url: str | None = None
    """The database (default: ``config.database.url``)."""
    keys: Keys = field(init=False)
    store: ArchiveStore = field(init=False)
    consumer: Consumer = field(init=False)

    def __post_init__(self) -> None:
        self.url = self.url or self.config.database.url
        if not self.url:
            raise ValueError("the archive needs database.url (or DATABASE_URL)")
        self.keys = Keys(self.config.namespace)
        self.store = ArchiveStore(self.url, self.config.namespace)
        streams = (self.keys.results, self.keys.alerts_stream)
        self.consumer = Consumer(self.r, self.keys, streams, ARCHIVE_GROUP, self.name,
                                 self._handle, count=500, clock=self.clock)  # fmt: skip
        self._throttle = LogThrottle(self.clock)
        self._prune_at = self.clock.monotonic()

    async def start(self) -> None:
        """Create the group on both streams, from their first entry: enabling the archive
        later archives whatever the streams still hold."""
        for stream in self.consumer.streams:
            await ensure_group(self.r, stream, ARCHIVE_GROUP)

    async def run(self, stop: asyncio.Event) -> None:
        """Archive until ``stop``."""
        await self.start()
        self.consumer.stop = stop
        try:
            await repeat_until(stop, self.run_once, name="archive", clock=self.clock)
        finally:
            await self.store.close()

    async def run_once(self, *, block_ms: int | None = BLOCK_MS) -> int:
        """Archive one batch (and prune when due); returns how many entries were read."""
        read = await self.consumer.step(block_ms)
        await self.prune_if_due()
        return read

    async def prune_if_due(self) -> dict[str, int] | None:
        """Delete rows past ``database.retention`` at most every :data:`PRUNE_EVERY_S`;
        None when not due, not configured or PostgreSQL is unreachable."""
        retention = self.config.database.retention
        if retention is None or self.clock.monotonic() < self._prune_at:
            return None
        self._prune_at = self.clock.monotonic() + PRUNE_EVERY_S
        try:
            pruned = await self.store.prune(self.clock.time() - retention)
        except ArchiveUnavailable:
            return None  # the next hour tries again
        if any(pruned.values()):
            log.info("archive.pruned", **pruned)
        return pruned

    async def _handle(self, batch: Batch) -> None:
        async def write(items: list[Received]) -> None:
            results = [i.event for i in items if isinstance(i.event, TaskResult)]
            alerts = [i.event for i in items if isinstance(i.event, AlertRaised | AlertResolved)]
            try:
                await self.store.write(results, alerts)
            except ArchiveUnavailable as exc:
                batch.hold(items)  # pending, not failed: read again once PostgreSQL is back
                if self._throttle.allow("unavailable") is not None:
                    log.warning("archive.unavailable", error=str(exc), pending=len(items))
                return
            if self._throttle.clear():
                log.info("archive.recovered")

        await batch.together(batch.received, write)
