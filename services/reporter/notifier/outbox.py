"""The notifier's outbox: one durable record per (alert episode, channel, notice).

``{ns}:outbox:<id>`` (:class:`DeliveryRecord`) holds the alert event and the delivery's
progress; ``{ns}:outbox:due:<channel>`` orders the pending ones by when they may next be
tried. A claim pushes a delivery to the end of a lease, so a notifier killed mid-send
leaves it to come back by itself after the lease; the id is derived from (alert episode,
channel, notice), so enqueueing twice adds nothing and the ``webhook-id`` of a repeat is
the one the receiver has seen. Retries back off exponentially with jitter (at least as
long as ``Retry-After``); after ``delivery.max_attempts`` the delivery gives up into
``{ns}:stream:dead`` with its last error.

Counters (``{ns}:counter:alert_deliveries:<channel>:<outcome>``, outcome ``sent``,
``failed`` per failed attempt, ``gave_up``) are what ``/metrics`` exports as
``watchkeeper_alert_deliveries_total{channel,outcome}``.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any, Final

from shared.config.models import DeliverySettings
from shared.contract.alerts import AlertEvent
from shared.contract.codec import EventDecodeError, decode, encode
from shared.contract.events import SCHEMA_VERSION
from shared.contract.keys import Keys
from shared.contract.records import HashRecord, RecordError
from shared.contract.scripts import script
from shared.runtime.clock import Clock
from shared.runtime.redis import DEAD_MAXLEN, Redis, text
from shared.timing.backoff import backoff_s

SENT_KEPT_S: Final = 7 * 86400
"""How long a finished delivery's record is kept (what ``alerts test``/people inspect)."""
OUTCOMES: Final = ("sent", "failed", "gave_up")


def delivery_id(event: AlertEvent, channel: str) -> str:
    """The id of one (alert episode, channel, notice) delivery: the same on every replica."""
    notice = event.notice or event.TYPE
    return hashlib.sha256(f"{event.alert_id}|{channel}|{notice}".encode()).hexdigest()[:24]


def counter(keys: Keys, channel: str, outcome: str) -> str:
    """The delivery counter of ``channel`` for ``outcome`` (sent|failed|gave_up)."""
    return keys.counter(f"alert_deliveries:{channel}:{outcome}")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryRecord(HashRecord):
    """``{ns}:outbox:<id>`` (writer: the notifier). ``state`` is pending, sent or gave_up."""

    id: str
    channel: str
    alert_key: str
    notice: str
    event_type: str
    event: bytes
    state: str = "pending"
    attempts: int = 0
    created_at: float
    sent_at: float | None = None
    last_error: str = ""
    answer: str = ""

    def alert(self) -> AlertEvent | None:
        """The event to deliver (None if it no longer decodes)."""
        try:
            event = decode({"type": self.event_type, "v": SCHEMA_VERSION, "body": self.event})
        except EventDecodeError:
            return None
        return event if event.TYPE.startswith("alert.") else None  # type: ignore[return-value]


@dataclass
class Outbox:
    """Enqueue, claim and settle deliveries."""

    r: Redis
    keys: Keys
    settings: DeliverySettings
    clock: Clock

    async def enqueue(self, client: Any, event: AlertEvent, channels: list[str]) -> None:
        """Queue ``event`` for each of ``channels`` on ``client`` (a pipeline, possibly inside
        a MULTI); a delivery already in the outbox is left as it is."""
        entry, now = encode(event), self.clock.time()
        add = script(self.r, "outbox_enqueue")
        for channel in channels:
            record = DeliveryRecord(
                id=delivery_id(event, channel), channel=channel, alert_key=event.key,
                notice=event.notice or event.TYPE, event_type=event.TYPE,
                event=entry["body"], created_at=now,  # type: ignore[arg-type]
            )  # fmt: skip
            pairs = [x for kv in record.to_fields().items() for x in kv]
            await add(keys=[self.keys.outbox(record.id), self.keys.outbox_due(channel)],
                      args=[now, record.id, *pairs], client=client)  # fmt: skip

    async def claim(self, channel: str, limit: int, lease_s: float) -> list[DeliveryRecord]:
        """Up to ``limit`` due deliveries of ``channel``, leased for ``lease_s``."""
        now = self.clock.time()
        ids: list[Any] = await script(self.r, "outbox_claim")(
            keys=[self.keys.outbox_due(channel)], args=[now, now + lease_s, limit]
        )
        records = []
        for raw_id in ids:
            raw = await self.r.hgetall(self.keys.outbox(text(raw_id)))
            try:
                records.append(DeliveryRecord.from_fields(raw))
            except RecordError:  # its record vanished: nothing left to deliver
                await self.r.zrem(self.keys.outbox_due(channel), raw_id)
        return records

    async def next_due(self, channels: list[str]) -> float | None:
        """The earliest time any of ``channels`` has a delivery to try."""
        firsts = []
        for channel in channels:
            head: list[Any] = await self.r.zrange(self.keys.outbox_due(channel), 0, 0,
                                                  withscores=True)  # fmt: skip
            firsts += [float(score) for _, score in head]
        return min(firsts, default=None)

    async def sent(self, record: DeliveryRecord, answer: str) -> None:
        """Record a delivery the receiver accepted."""
        key = self.keys.outbox(record.id)
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"state": "sent", "sent_at": self.clock.time(),
                                    "attempts": record.attempts + 1, "answer": answer})  # fmt: skip
            pipe.expire(key, SENT_KEPT_S)
            pipe.zrem(self.keys.outbox_due(record.channel), record.id)
            pipe.incr(counter(self.keys, record.channel, "sent"))
            await pipe.execute()

    async def failed(
        self, record: DeliveryRecord, error: str, retry_after_s: float | None, *, final: bool
    ) -> bool:
        """Record a failed attempt; schedule the retry, or give up (``final``, or the last
        attempt). Returns True when it gave up."""
        attempts = record.attempts + 1
        give_up = final or attempts >= self.settings.max_attempts
        key, due = self.keys.outbox(record.id), self.keys.outbox_due(record.channel)
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"attempts": attempts, "last_error": error,
                                    "state": "gave_up" if give_up else "pending"})  # fmt: skip
            pipe.incr(counter(self.keys, record.channel, "failed"))
            if give_up:
                pipe.zrem(due, record.id)
                pipe.expire(key, SENT_KEPT_S)
                pipe.incr(counter(self.keys, record.channel, "gave_up"))
                pipe.xadd(self.keys.dead, self._dead(record, attempts, error),  # type: ignore[arg-type]
                          maxlen=DEAD_MAXLEN, approximate=True)  # fmt: skip
            else:
                pipe.zadd(due, {record.id: self.clock.time() + self._wait(attempts, retry_after_s)})
            await pipe.execute()
        return give_up

    def _wait(self, attempts: int, retry_after_s: float | None) -> float:
        s = self.settings
        wait = backoff_s(attempts - 1, first_s=s.first_backoff, cap_s=s.max_backoff,
                         rand=random.random())  # fmt: skip
        return max(wait, retry_after_s or 0.0)

    def _dead(self, record: DeliveryRecord, attempts: int, error: str) -> dict[str, Any]:
        return {"source": "outbox", "source_id": record.id, "group": "notifier",
                "reader": record.channel, "reason": f"gave up after {attempts} attempt(s): {error}",
                "alert_key": record.alert_key, "notice": record.notice,
                "orig_type": record.event_type, "orig_v": SCHEMA_VERSION,
                "orig_body": record.event}  # fmt: skip
