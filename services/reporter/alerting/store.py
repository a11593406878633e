"""The alert store (I/O shell around :mod:`.transition`): one atomic step per change.

Each change reads the alert's hash under WATCH, asks the pure transition what to do, and
writes in one MULTI: the hash, the active/resolved indexes, the log entry and, when the
transition announces something, the event on ``{ns}:stream:alerts`` (or, for an alert
another system published, the outbox deliveries the caller adds, so a crash between the
two can neither lose nor repeat an announcement). Concurrent replicas retry on conflict.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.exceptions import WatchError

from services.reporter.alerting.transition import (
    Observation,
    Timing,
    Transition,
    due,
    on_raise,
    on_resolve,
)
from shared.config.models import AlertsSettings
from shared.contract import alerts
from shared.contract.alerts import LOG_MAXLEN, RESOLVED_KEPT_S, AlertEvent, event_of, log_entry
from shared.contract.codec import encode
from shared.contract.keys import Keys
from shared.contract.readmodel import AlertRecord
from shared.runtime.logging import get_logger
from shared.runtime.redis import Redis

log = get_logger("watchkeeper.alerts")
RESOLVED_KEPT: int = 1000
"""Resolved alerts listed in ``{ns}:alerts:resolved`` at most."""

Decide = Callable[[AlertRecord | None], Transition | None]
Publish = Callable[[Any, AlertEvent], Awaitable[None]]
"""Writes queued in the same MULTI as an announcement (e.g. outbox deliveries)."""


@dataclass
class AlertStore:
    """Raises, resolves and re-announces alerts kept under ``{ns}:alert:<key>``."""

    r: Redis
    keys: Keys
    timing: Timing

    @classmethod
    def of(cls, r: Redis, keys: Keys, settings: AlertsSettings) -> AlertStore:
        """A store with the configured cooldown and reminder interval."""
        return cls(r, keys, Timing(settings.cooldown, settings.reminder))

    async def raise_(self, obs: Observation, *, publish: Publish | None = None) -> Transition:
        """``obs`` fired: new, repeated, escalated or held (see :mod:`.transition`)."""
        done = await self._apply(
            obs.key, obs.at, lambda cur: on_raise(cur, obs, self.timing), publish
        )
        assert done is not None  # on_raise always decides something
        return done

    async def resolve(
        self, key: str, at: float, *, publish: Publish | None = None
    ) -> Transition | None:
        """The condition behind ``key`` cleared; None when it was not active."""
        if publish is None and not await self.r.zscore(self.keys.alerts_active, key):
            return None  # the common case (a healthy task): no WATCH round trip
        return await self._apply(key, at, lambda cur: on_resolve(cur, at), publish)

    async def remind(self, key: str, at: float) -> Transition | None:
        """Announce what the active alert ``key`` is owed at ``at`` (a held raise whose
        cooldown or silence ended, a reminder); None when nothing is owed."""
        return await self._apply(key, at, lambda cur: due(cur, at, self.timing) if cur else None)

    async def _apply(
        self, key: str, at: float, decide: Decide, publish: Publish | None = None
    ) -> Transition | None:
        akey = self.keys.alert(key)
        async with self.r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(akey)
                    current = await alerts.get(pipe, self.keys, key)
                    done = decide(current)
                    if done is None:
                        await pipe.unwatch()  # type: ignore[no-untyped-call]
                        return None
                    pipe.multi()  # type: ignore[no-untyped-call]
                    await self._write(pipe, done, at, publish)
                    await pipe.execute()
                except WatchError:
                    continue
                if done.action:
                    log.info("alert.changed", action=done.action, key=key,
                             severity=done.record.severity, notice=done.notice)  # fmt: skip
                return done

    async def _write(self, pipe: Any, done: Transition, at: float, publish: Publish | None) -> None:
        record, keys = done.record, self.keys
        akey = keys.alert(record.key)
        pipe.hset(akey, mapping=record.to_fields())
        if record.active:
            pipe.persist(akey)
            pipe.zadd(keys.alerts_active, {record.key: record.first_seen})
            pipe.zrem(keys.alerts_resolved, record.key)
        else:
            pipe.expire(akey, RESOLVED_KEPT_S)
            pipe.zrem(keys.alerts_active, record.key)
            pipe.zadd(keys.alerts_resolved, {record.key: record.resolved_at or 0.0})
            pipe.zremrangebyrank(keys.alerts_resolved, 0, -RESOLVED_KEPT - 1)
        if done.action:
            pipe.xadd(keys.alerts_log, log_entry(record, done.action, at),
                      maxlen=LOG_MAXLEN, approximate=True)  # fmt: skip
        if done.notice is None:
            return
        event = event_of(record, done.notice)
        if publish is None:
            pipe.xadd(keys.alerts_stream, encode(event))
        else:
            await publish(pipe, event)
