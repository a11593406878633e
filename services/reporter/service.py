"""The reporter service: keeps the read model from ``task.result`` events."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from services.reporter.evaluate import Evaluator
from services.reporter.record import add_result
from services.reporter.reports.produce import ReportProducer
from shared.config.models import Config
from shared.contract.events import TaskResult
from shared.contract.keys import REPORTER_GROUP, Keys
from shared.contract.tallied import TalliedCall
from shared.runtime.clock import Clock, SystemClock
from shared.runtime.collector import startup_frozen
from shared.runtime.consume import Batch, Consumer, Received
from shared.runtime.lane import Lane
from shared.runtime.logging import get_logger
from shared.runtime.loop import repeat_until, sleep_or_stop
from shared.runtime.redis import BLOCK_MS, Redis, consumer_name, ensure_group

log = get_logger("watchkeeper.reporter")
RETENTION_S: Final = 30 * 86_400
"""The default of ``results.retention``: how long result hashes and daily metrics are
kept (30 days)."""
RECORD_PART: Final = 32
"""Results recorded by one script call. Redis runs a script alone, and recording costs it
some 35 µs per result: a whole read of 200 held every other client (an executor taking a
critical run, the scheduler's emission) for 5-10 ms. A read is recorded in calls of this
many (each acking its own entries), so a script holds Redis about a millisecond."""


@dataclass
class Reporter:
    """One reporter replica (consumer in group ``reporter`` on the results stream)."""

    r: Redis
    config: Config
    clock: Clock = field(default_factory=SystemClock)
    name: str = field(default_factory=lambda: consumer_name("reporter"))
    retention_s: int = 0
    """How long results are kept (0: ``results.retention`` from the config)."""
    keys: Keys = field(init=False)
    consumer: Consumer = field(init=False)
    reports: ReportProducer = field(init=False)
    alerts: Evaluator = field(init=False)
    _writer: Lane | None = field(default=None, init=False)
    """Where the recording script goes while the service runs (its own connection,
    spoken to directly); else :attr:`r`."""

    def __post_init__(self) -> None:
        self.retention_s = self.retention_s or int(self.config.results.retention)
        self.keys = Keys(self.config.namespace)
        self.reports = ReportProducer(self.r, self.config, self.clock, self.name)
        self.alerts = Evaluator(self.r, self.config, self.clock)
        self.consumer = Consumer(self.r, self.keys, (self.keys.results,), REPORTER_GROUP,
                                 self.name, self._handle, count=200, clock=self.clock)  # fmt: skip

    async def start(self) -> None:
        """Create the group on the results stream."""
        await ensure_group(self.r, self.keys.results, REPORTER_GROUP)

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop``; first finishes what this consumer had pending. The periodic
        reports are made alongside (one replica makes each)."""
        await self.start()
        self.consumer.stop = stop
        # Start-up's objects out of the collector's reach: a burst of results made 2-3 full
        # collections of 56-74 ms each walk the imports again (bench/pipeline.py --hops).
        # Reads and acks, and the records, each on a connection of their own, spoken to
        # directly (see Lane): a blocking read holds its connection.
        self.consumer.lane = Lane(self.r.client(), name=f"{self.name}-read")
        self._writer = Lane(self.r.client(), name=f"{self.name}-record")
        try:
            with startup_frozen():
                async with asyncio.TaskGroup() as group:
                    group.create_task(repeat_until(stop, self.run_once, name="reporter",
                                                   clock=self.clock))  # fmt: skip
                    group.create_task(repeat_until(stop, lambda: self.reports.tick(stop),
                                                   name="reports", clock=self.clock))  # fmt: skip
                    group.create_task(self._sweep_alerts(stop))
        finally:
            await self.consumer.lane.aclose()
            await self._writer.aclose()
            self.consumer.lane = self._writer = None

    async def _sweep_alerts(self, stop: asyncio.Event) -> None:
        async def sweep() -> None:
            await self.alerts.sweep()
            await sleep_or_stop(self.clock, stop, self.config.alerts.evaluate_every)

        await repeat_until(stop, sweep, name="reporter.alerts", clock=self.clock)

    async def run_once(self, *, block_ms: int | None = BLOCK_MS) -> int:
        """Record one batch of results (this consumer's pending ones first after a start or
        a failure); return how many entries were read."""
        return await self.consumer.step(block_ms)

    async def _handle(self, batch: Batch) -> None:
        """One read's results: recorded and acked :data:`RECORD_PART` at a time (one
        script call each), then the alert rules once for the read. Should a call fail,
        each of its results is retried alone (:meth:`Batch.together`); recording is
        idempotent."""

        async def record(items: list[Received]) -> None:
            results = [i.event for i in items if isinstance(i.event, TaskResult)]
            recorded = await self.record_batch(results, acks=[i.entry.entry_id for i in items])
            batch.acked(items)
            log.debug("reporter.recorded", read=len(items), recorded=len(recorded))

        received = batch.received
        for start in range(0, len(received), RECORD_PART):
            await batch.together(received[start : start + RECORD_PART], record)
        # Alert rules read what the batch just recorded; they never fail the batch.
        await self.alerts.after_batch([i.event for i in batch.settled()
                                       if isinstance(i.event, TaskResult)])  # fmt: skip

    async def record_batch(
        self, results: Sequence[TaskResult], *, acks: Sequence[str] = ()
    ) -> list[TaskResult]:
        """Write the read model for each of ``results`` once, all in one script call
        that also acks ``acks`` (results-stream entry ids) in the reporter group;
        returns those recorded now (not recorded before: a redelivery, or a repeat
        within ``results``, is skipped)."""
        call = TalliedCall()
        for result in results:
            add_result(call, self.keys, result, self._marker(result), self.retention_s)
        call.ack(self.keys.results, REPORTER_GROUP, acks)
        replies = await call.run(self._writer or self.r, self.retention_s * 1000)
        recorded = []
        for result, (applied, refused) in zip(results, replies, strict=True):
            if refused:
                log.error("reporter.writes_refused", run_id=result.run_id, errors=refused)
            if applied:
                recorded.append(result)
        return recorded

    async def record(self, result: TaskResult) -> bool:
        """Write the read model for ``result`` once; False if it was already recorded."""
        return bool(await self.record_batch([result]))

    def _marker(self, result: TaskResult) -> str:
        return self.keys.counter(f"recorded:{result.run_id}:{result.attempt}")
