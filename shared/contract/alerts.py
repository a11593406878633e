"""Reading and steering the alert store: list, acknowledge, silence (CLI and API).

The store itself (raising, deduping, resolving) is the reporter's
(``services/reporter/alerting``); this module holds what every reader shares: the
records (:class:`~shared.contract.readmodel.AlertRecord`), the transition log
``{ns}:alerts:log`` and the two human actions. An acknowledgement is announced on the
alerts stream as ``alert.acknowledged`` (PagerDuty acknowledges the incident) and stops
reminders; a silence holds back every announcement of the key until it ends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from shared.contract.codec import encode
from shared.contract.events import AlertAcknowledged, AlertRaised, AlertResolved
from shared.contract.keys import Keys
from shared.contract.readmodel import AlertRecord
from shared.contract.records import RecordError, as_text
from shared.contract.vocabulary import SEVERITIES, SEVERITY_RANK

LOG_MAXLEN: Final = 10_000
"""Transitions kept in ``{ns}:alerts:log`` (approximately)."""
RESOLVED_KEPT_S: Final = 7 * 86400
"""How long a resolved alert's hash (and its cooldown memory) is kept."""

AlertEvent = AlertRaised | AlertResolved | AlertAcknowledged


def event_of(record: AlertRecord, notice: str, *, acked_by: str = "") -> AlertEvent:
    """The stream event announcing ``record`` (``notice`` says which announcement)."""
    fields: dict[str, Any] = {
        "alert_id": record.alert_id, "key": record.key, "severity": record.severity,
        "title": record.title, "message": record.message, "source": record.source,
        "labels": record.label_map(), "details": record.detail_map(),
        "first_seen": record.first_seen, "last_seen": record.last_seen,
        "count": record.count, "notice": notice,
    }  # fmt: skip
    if notice == "acknowledged":
        return AlertAcknowledged(**fields, acked_by=acked_by)
    if notice == "resolved":
        return AlertResolved(**fields)
    return AlertRaised(**fields)


def log_entry(record: AlertRecord, action: str, at: float, by: str = "") -> dict[str, Any]:
    """One ``{ns}:alerts:log`` entry: what happened to which alert, when, by whom."""
    return {"at": at, "action": action, "key": record.key, "alert_id": record.alert_id,
            "severity": record.severity, "title": record.title, "by": by}  # fmt: skip


async def get(r: aioredis.Redis, keys: Keys, key: str) -> AlertRecord | None:
    """The alert stored under ``key`` (active or recently resolved), or None."""
    raw = await r.hgetall(keys.alert(key))
    if not raw:
        return None
    try:
        return AlertRecord.from_fields(raw)
    except RecordError:
        return None


async def _records(r: aioredis.Redis, keys: Keys, names: list[Any]) -> list[AlertRecord]:
    async with r.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hgetall(keys.alert(as_text(name)))
        raws = await pipe.execute()
    out = []
    for raw in raws:
        try:
            out.append(AlertRecord.from_fields(raw))
        except RecordError:
            continue  # expired or garbled between the index read and this one
    return out


async def active(r: aioredis.Redis, keys: Keys) -> list[AlertRecord]:
    """Every active alert, most severe first, then oldest first."""
    names: list[Any] = await r.zrange(keys.alerts_active, 0, -1)
    records = [a for a in await _records(r, keys, names) if a.active]
    return sorted(records, key=lambda a: (-SEVERITY_RANK.get(a.severity, 0), a.first_seen))


async def active_among(r: aioredis.Redis, keys: Keys, names: list[str]) -> set[str]:
    """Those of the alert keys ``names`` that are active (one ZMSCORE)."""
    scores: list[Any] = await r.zmscore(keys.alerts_active, names) if names else []
    return {name for name, score in zip(names, scores, strict=True) if score is not None}


async def resolved(r: aioredis.Redis, keys: Keys, count: int = 50) -> list[AlertRecord]:
    """The ``count`` most recently resolved alerts still kept, newest first."""
    names: list[Any] = await r.zrevrange(keys.alerts_resolved, 0, count - 1)
    return [a for a in await _records(r, keys, names) if not a.active]


async def resolved_between(
    r: aioredis.Redis, keys: Keys, start: float, end: float
) -> list[AlertRecord]:
    """Alerts whose latest resolve lies in ``[start, end)`` (epoch seconds) and whose
    record is still kept (a week), oldest resolve first."""
    names: list[Any] = await r.zrangebyscore(keys.alerts_resolved, start, f"({end}")
    return [a for a in await _records(r, keys, names) if not a.active]


async def active_by_severity(r: aioredis.Redis, keys: Keys) -> dict[str, int]:
    """How many alerts are active per severity (every severity present, zeros included)."""
    counts: dict[str, int] = dict.fromkeys(SEVERITIES, 0)
    for record in await active(r, keys):
        counts[record.severity] = counts.get(record.severity, 0) + 1
    return counts


async def history(r: aioredis.Redis, keys: Keys, count: int = 100) -> list[dict[str, str]]:
    """The ``count`` latest entries of ``{ns}:alerts:log``, newest first."""
    raw: Any = await r.xrevrange(keys.alerts_log, count=count)
    return [{as_text(k): as_text(v) for k, v in fields.items()} for _, fields in raw]


Change = Callable[[AlertRecord], dict[str, Any] | None]
Announce = Callable[[Any, AlertRecord], Awaitable[None]]


async def _change(
    r: aioredis.Redis, keys: Keys, key: str, change: Change, announce: Announce
) -> AlertRecord | None:
    """Apply ``change`` (fields to set) to the active alert ``key`` atomically; None when no
    such alert is active. A ``change`` of None means the alert already says so: nothing
    is written or announced (a request repeated, or retried after its reply was lost:
    the client then retries the transaction from the read, and finds it done)."""
    akey = keys.alert(key)
    async with r.pipeline(transaction=True) as pipe:
        while True:
            try:
                await pipe.watch(akey)
                current = await get(pipe, keys, key)
                if current is None or not current.active:
                    await pipe.unwatch()  # type: ignore[no-untyped-call]
                    return None
                updates = change(current)
                if updates is None:
                    await pipe.unwatch()  # type: ignore[no-untyped-call]
                    return current
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.hset(akey, mapping=updates)  # type: ignore[arg-type]  # str keys are fine
                await announce(pipe, current)
                await pipe.execute()
            except WatchError:
                continue
            return await get(r, keys, key)


async def acknowledge(
    r: aioredis.Redis, keys: Keys, key: str, *, by: str, now: float
) -> AlertRecord | None:
    """Acknowledge the active alert ``key`` (stops reminders; announced as
    ``alert.acknowledged``); None when no such alert is active."""

    async def announce(pipe: Any, current: AlertRecord) -> None:
        pipe.xadd(keys.alerts_stream, encode(event_of(current, "acknowledged", acked_by=by)))
        pipe.xadd(keys.alerts_log, log_entry(current, "acknowledged", now, by),
                  maxlen=LOG_MAXLEN, approximate=True)  # fmt: skip

    def change(current: AlertRecord) -> dict[str, Any] | None:
        return None if current.acked_by == by else {"acked_by": by, "acked_at": now}

    return await _change(r, keys, key, change, announce)


async def silence(
    r: aioredis.Redis, keys: Keys, key: str, *, until: float, by: str, now: float
) -> AlertRecord | None:
    """Hold back every announcement of the active alert ``key`` until ``until`` (epoch
    seconds; a raise held meanwhile is announced after it if still active); None when no
    such alert is active."""

    async def announce(pipe: Any, current: AlertRecord) -> None:
        pipe.xadd(keys.alerts_log, log_entry(current, "silenced", now, by),
                  maxlen=LOG_MAXLEN, approximate=True)  # fmt: skip

    def change(current: AlertRecord) -> dict[str, Any] | None:
        if (current.silenced_until, current.silenced_by) == (until, by):
            return None
        return {"silenced_until": until, "silenced_by": by}

    return await _change(r, keys, key, change, announce)
