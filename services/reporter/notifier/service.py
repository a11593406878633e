"""The notifier: consumer group ``notifier`` on the alerts stream, delivering through the
outbox to every configured channel.

Each alert event becomes one outbox delivery per channel whose filters let it through
(acked with the entry only once the deliveries are durable). Announcements Watchkeeper's
store made carry a ``notice`` and are enqueued as they are; an alert another system
published has none and first goes through the store (dedupe, cooldown, silences), the
store's change and its deliveries written in one MULTI. Each channel sends from its own
task, paced and circuit-broken on its own, so a slow or dead receiver delays nobody else.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any, Final

from redis.exceptions import ResponseError

from services.reporter.alerting.store import AlertStore
from services.reporter.alerting.transition import Observation
from services.reporter.notifier.channels import Channel, Note, build, missing, wants
from services.reporter.notifier.channels.slack import PACE_S
from services.reporter.notifier.circuit import Circuit
from services.reporter.notifier.outbox import DeliveryRecord, Outbox
from shared.config.models import Config
from shared.contract.alerts import AlertEvent
from shared.contract.events import AlertAcknowledged, AlertRaised, AlertResolved
from shared.contract.keys import NOTIFIER_GROUP, Keys
from shared.runtime.clock import Clock, SystemClock
from shared.runtime.consume import Batch, Consumer, Received
from shared.runtime.logging import get_logger
from shared.runtime.loop import repeat_until
from shared.runtime.redis import BLOCK_MS, Redis, consumer_name, ensure_group, is_nogroup

log = get_logger("watchkeeper.notifier")
BUSY_BLOCK_MS: Final = 100
"""Longest stream wait while sends are in flight (their retries may be due soon)."""
ORPHAN_IDLE_MS: Final = 60_000
"""Alert entries read by a notifier that died before enqueueing them are taken over after
this long (each replica has its own consumer name, so nobody else would re-read them)."""


@dataclass
class Notifier:
    """One notifier replica."""

    r: Redis
    config: Config
    clock: Clock = field(default_factory=SystemClock)
    name: str = field(default_factory=lambda: consumer_name("notifier"))
    keys: Keys = field(init=False)
    outbox: Outbox = field(init=False)
    store: AlertStore = field(init=False)
    channels: dict[str, Channel] = field(init=False)
    consumer: Consumer = field(init=False)
    _circuits: dict[str, Circuit] = field(init=False)
    _sending: dict[str, asyncio.Task[None]] = field(default_factory=dict, init=False)
    _adopted_at: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        settings = self.config.alerts
        self.keys = Keys(self.config.namespace)
        self.outbox = Outbox(self.r, self.keys, settings.delivery, self.clock)
        self.store = AlertStore.of(self.r, self.keys, settings)
        self.channels = {}
        for channel in settings.channels:
            lacking = missing(channel)
            if lacking:
                log.warning("notifier.channel_unusable", channel=channel.key, reason=lacking)
            else:
                self.channels[channel.key] = build(channel, settings, self.clock)
        d = settings.delivery
        self._circuits = {n: Circuit(d.circuit_failures, d.circuit_open) for n in self.channels}
        self.consumer = Consumer(self.r, self.keys, (self.keys.alerts_stream,), NOTIFIER_GROUP,
                                 self.name, self._handle, clock=self.clock)  # fmt: skip

    async def start(self) -> None:
        """Create the group on the alerts stream (from its start: nothing is missed)."""
        await ensure_group(self.r, self.keys.alerts_stream, NOTIFIER_GROUP)

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop``; sends in flight finish (bounded by their timeouts)."""
        await self.start()
        self.consumer.stop = stop
        try:
            await repeat_until(stop, lambda: self.run_once(wait=False), name="notifier",
                               clock=self.clock)  # fmt: skip
        finally:
            await self.drain()

    async def run_once(self, *, block_ms: int | None = None, wait: bool = True) -> int:
        """Start due sends, read one batch of alert events into the outbox; with ``wait``
        (tests, ``alerts test``) also wait for the sends started. Returns entries read."""
        await self._adopt_orphans()
        await self.dispatch()
        read = await self.consumer.step(await self._block_ms() if block_ms is None else block_ms)
        await self.dispatch()
        if wait:
            await self.drain()
        return read

    async def _adopt_orphans(self) -> None:
        """Take over alert entries another notifier read but never acked (it died)."""
        now = self.clock.monotonic()
        if self._adopted_at is not None and now - self._adopted_at < ORPHAN_IDLE_MS / 1000:
            return
        self._adopted_at = now
        try:
            reply: Any = await self.r.xautoclaim(self.keys.alerts_stream, NOTIFIER_GROUP,
                                                 self.name, min_idle_time=ORPHAN_IDLE_MS,
                                                 count=100)  # fmt: skip
        except ResponseError as exc:
            if not is_nogroup(exc):
                raise
            return  # the consumer's next read recreates the group
        if reply and reply[1]:
            log.warning("notifier.adopted_entries", count=len(reply[1]))
            self.consumer.pending_first()

    async def drain(self) -> None:
        """Wait for every send in flight."""
        while self._sending:
            await asyncio.gather(*self._sending.values(), return_exceptions=True)

    async def dispatch(self) -> None:
        """Start a send task for each idle channel that has a due delivery and a closed (or
        half-open) circuit; the task goes on with the channel's next due ones."""
        for name, channel in self.channels.items():
            if name in self._sending:
                continue
            first = await self._claim(channel)
            if first is not None:
                task = asyncio.create_task(self._send_all(channel, first), name=f"send:{name}")
                self._sending[name] = task
                task.add_done_callback(lambda _, n=name: self._sending.pop(n, None))  # type: ignore[misc]

    async def _claim(self, channel: Channel) -> DeliveryRecord | None:
        """One due delivery of ``channel``, leased for as long as sending it may take."""
        name = channel.config.key
        if not self._circuits[name].capacity(self.clock.monotonic(), 1):
            return None
        lease = channel.config.timeout + PACE_S + self.config.alerts.delivery.lease_margin
        records = await self.outbox.claim(name, 1, lease)
        return records[0] if records else None

    async def _block_ms(self) -> int:
        if self._sending:
            return BUSY_BLOCK_MS
        due = await self.outbox.next_due(list(self.channels))
        if due is None:
            return BLOCK_MS
        return max(1, min(BLOCK_MS, int((due - self.clock.time()) * 1000) + 1))

    # -- sending ---------------------------------------------------------------------
    async def _send_all(self, channel: Channel, first: DeliveryRecord) -> None:
        record: DeliveryRecord | None = first
        try:
            while record is not None:
                await self._send(channel, record)
                record = await self._claim(channel)
        except Exception as exc:  # Redis trouble: the leases bring the rest back later
            log.error("notifier.send_failed", channel=channel.config.key,
                      error=f"{type(exc).__name__}: {exc}")  # fmt: skip

    async def _send(self, channel: Channel, record: DeliveryRecord) -> None:
        name = channel.config.key
        event = record.alert()
        if event is None:
            await self.outbox.failed(record, "the stored event no longer decodes", None, final=True)
            return
        if channel.config.type == "slack":
            await self._pace(name)
        answer = await channel.send(Note(record.id, event, record.attempts + 1))
        self._circuits[name].record(answer.ok, self.clock.monotonic())
        fields: dict[str, Any] = {"channel": name, "delivery": record.id,
                                  "key": record.alert_key, "notice": record.notice,
                                  "attempt": record.attempts + 1}  # fmt: skip
        if answer.ok:
            await self.outbox.sent(record, answer.summary)
            log.info("notifier.sent", **fields, answer=answer.summary[:200])
            return
        gave_up = await self.outbox.failed(record, answer.summary, answer.retry_after_s,
                                           final=answer.permanent)  # fmt: skip
        if gave_up:
            log.error("notifier.gave_up", **fields, error=answer.summary)
        else:
            log.warning("notifier.retry", **fields, error=answer.summary,
                        retry_after_s=answer.retry_after_s)  # fmt: skip

    async def _pace(self, name: str) -> None:
        """At most one message per :data:`PACE_S` per channel, across replicas."""
        marker = self.keys.channel_pace(name)
        while not await self.r.set(marker, 1, px=int(PACE_S * 1000), nx=True):
            wait_ms = await self.r.pttl(marker)
            await asyncio.sleep(max(wait_ms, 10) / 1000)

    # -- intake ----------------------------------------------------------------------
    async def _handle(self, batch: Batch) -> None:
        await batch.each(self._intake)

    async def _intake(self, item: Received) -> None:
        event = item.event
        if not isinstance(event, AlertRaised | AlertResolved | AlertAcknowledged):
            return
        if isinstance(event, AlertRaised) and event.notice is None and event.severity == "info":
            # A notice from another producer ("the daily report is ready"): delivered once per
            # alert id, never a standing condition to dedupe against the next one.
            event = replace(event, notice=f"info:{event.alert_id}")
        if event.notice is not None or isinstance(event, AlertAcknowledged):
            async with self.r.pipeline(transaction=False) as pipe:
                await self.enqueue(pipe, event)
                await pipe.execute()
            return
        now = self.clock.time()
        if isinstance(event, AlertResolved):
            await self.store.resolve(event.key, now, publish=self.enqueue)
            return
        await self.store.raise_(Observation(
            key=event.key, severity=event.severity, title=event.title, message=event.message,
            source=event.source, labels={k: str(v) for k, v in event.labels.items()},
            details=event.details, at=now,
        ), publish=self.enqueue)  # fmt: skip

    async def enqueue(self, client: Any, event: AlertEvent) -> None:
        """Queue ``event`` on ``client`` for every channel that wants it."""
        names = [n for n, c in self.channels.items() if wants(c.config, event)]
        if names:
            await self.outbox.enqueue(client, event, names)
