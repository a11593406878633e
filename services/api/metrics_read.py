"""What ``/metrics`` reports, read from Redis on each scrape into one :class:`Snapshot`.

Every value lives in Redis, so every API replica reports the same numbers. A scrape
costs a handful of round trips whatever the number of stored results: the lifetime
counters are single hashes (:mod:`shared.contract.tallies`), per-task reads are
pipelined, and no key is scanned except the alert-delivery counters (cached, see
:class:`DeliveryCounters`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from redis.exceptions import ResponseError

from shared.config import taskdefs
from shared.contract import alerts
from shared.contract.keys import EXECUTORS_GROUP, Keys
from shared.contract.readmodel import DailyMetrics, ResultRecord, RunTallyField
from shared.contract.records import RecordError, as_text
from shared.contract.tallies import split_decision, split_total
from shared.runtime.clock import Clock
from shared.runtime.redis import Redis

HEALTH_HANDLER: Final = "system_health_check"
DELIVERIES_PREFIX: Final = "alert_deliveries:"
DELIVERY_RESCAN_S: Final = 300.0
"""How often the alert-delivery counter names are looked up again (a SCAN)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """Everything one scrape reports (plain values; :mod:`services.api.metrics` turns
    them into metric families)."""

    totals: Mapping[str, DailyMetrics] = field(default_factory=dict)
    last_success: Mapping[str, float] = field(default_factory=dict)
    decisions: Mapping[tuple[str, str, str], int] = field(default_factory=dict)
    lateness: Mapping[str, float] = field(default_factory=dict)
    pending: Mapping[tuple[str, str], int] = field(default_factory=dict)
    executors_alive: int = 0
    dead_letters: int = 0
    alerts: Mapping[str, int] = field(default_factory=dict)
    deliveries: Mapping[tuple[str, str], int] = field(default_factory=dict)
    health_score: float | None = None


def totals_by_task(raw: Mapping[Any, Any]) -> dict[str, DailyMetrics]:
    """``{ns}:totals`` (``<name>|<task>`` fields) as one :class:`DailyMetrics` per task."""
    per_task: dict[str, dict[str, Any]] = {}
    for field_name, value in raw.items():
        parts = split_total(as_text(field_name))
        if parts is not None:
            per_task.setdefault(parts[1], {})[parts[0]] = value
    return {task: DailyMetrics.from_fields(fields) for task, fields in per_task.items()}


def decision_counts(raw: Mapping[Any, Any]) -> dict[tuple[str, str, str], int]:
    """``{ns}:counter:decisions`` as ``(task, outcome, cause) → count``."""
    out: dict[tuple[str, str, str], int] = {}
    for field_name, value in raw.items():
        parts = split_decision(as_text(field_name))
        if parts is not None:
            outcome, cause, task = parts
            out[task, outcome, cause] = int(value)
    return out


@dataclass
class DeliveryCounters:
    """Names of the ``counter:alert_deliveries:<channel>:<outcome>`` keys (written by the
    notifier), found by SCAN at most every :data:`DELIVERY_RESCAN_S`: channels and
    outcomes are few and long-lived, while a SCAN per scrape would cost as much as the
    whole keyspace."""

    clock: Clock
    names: list[str] = field(default_factory=list)
    scanned_at: float | None = None

    async def read(self, r: Redis, keys: Keys) -> dict[tuple[str, str], int]:
        """Current value of every delivery counter, by ``(channel, outcome)``."""
        now = self.clock.monotonic()
        if self.scanned_at is None or now - self.scanned_at >= DELIVERY_RESCAN_S:
            pattern = keys.counter(DELIVERIES_PREFIX) + "*"
            self.names = sorted({as_text(k) async for k in r.scan_iter(pattern, count=1000)})
            self.scanned_at = now
        if not self.names:
            return {}
        values = await r.mget(self.names)
        prefix = keys.counter(DELIVERIES_PREFIX)
        out: dict[tuple[str, str], int] = {}
        for name, value in zip(self.names, values, strict=True):
            channel, sep, outcome = name.removeprefix(prefix).rpartition(":")
            if sep and value is not None:
                out[channel, outcome] = int(value)
        return out


async def read_snapshot(r: Redis, keys: Keys, deliveries: DeliveryCounters) -> Snapshot:
    """Read every value ``/metrics`` reports."""
    async with r.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.totals)
        pipe.hgetall(keys.decision_tally)
        pipe.hgetall(keys.lateness)
        pipe.hvals(keys.counter("dead_lettered"))  # by reader; summed (readers come and go)
        pipe.hgetall(keys.taskdefs)
        totals, decisions, lateness, dead, defs = await pipe.execute()
    by_task = totals_by_task(totals)
    tasks = sorted(set(by_task) | {as_text(t) for t in defs})
    return Snapshot(
        totals=by_task,
        last_success=await _last_success(r, keys, tasks),
        decisions=decision_counts(decisions),
        lateness={as_text(k): float(v) for k, v in lateness.items()},
        pending=await _pending(r, keys),
        executors_alive=await _executors_alive(r, keys),
        dead_letters=sum(int(n) for n in dead),
        alerts=await _alerts(r, keys),
        deliveries=await deliveries.read(r, keys),
        health_score=await _health_score(r, keys, _health_tasks(defs)),
    )


async def _last_success(r: Redis, keys: Keys, tasks: list[str]) -> dict[str, float]:
    async with r.pipeline(transaction=False) as pipe:
        for task in tasks:
            pipe.hget(keys.schedule_state(task), RunTallyField.LAST_SUCCESS_AT)
        values = await pipe.execute()
    return {t: float(v) for t, v in zip(tasks, values, strict=True) if v not in (None, b"")}


def _monitored_streams(keys: Keys) -> dict[str, str]:
    streams = [
        keys.emergency,
        keys.triggers,
        *keys.due_streams,
        keys.results,
        keys.alerts_stream,
        keys.control,
    ]
    return {s: s.removeprefix(f"{keys.ns}:stream:") for s in streams}


async def _pending(r: Redis, keys: Keys) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for stream, label in _monitored_streams(keys).items():
        try:
            groups: Any = await r.xinfo_groups(stream)
        except ResponseError:  # no such stream yet
            continue
        for group in groups:
            out[label, as_text(group["name"])] = int(group["pending"])
    return out


async def _executors_alive(r: Redis, keys: Keys) -> int:
    """Executors whose heartbeat key exists among the consumers of the due streams (an
    executor's consumer name is its id)."""
    names: set[str] = set()
    for stream in keys.due_streams:
        try:
            consumers: Any = await r.xinfo_consumers(stream, EXECUTORS_GROUP)
        except ResponseError:
            continue
        names.update(as_text(c["name"]) for c in consumers)
    if not names:
        return 0
    return int(await r.exists(*(keys.executor(n) for n in names)))


async def _alerts(r: Redis, keys: Keys) -> dict[str, int]:
    """Active alerts by severity, through the alert store's shared reader."""
    try:
        return await alerts.active_by_severity(r, keys)
    except ResponseError:  # a key of another type where the store's index should be
        return {}


def _health_tasks(defs: Mapping[Any, Any]) -> list[str]:
    names = []
    for name, raw in defs.items():
        try:
            if taskdefs.parse(raw).handler == HEALTH_HANDLER:
                names.append(as_text(name))
        except ValueError:  # a garbled definition is the scheduler's to report
            continue
    return names


async def _health_score(r: Redis, keys: Keys, tasks: list[str]) -> float | None:
    """The score of the most recent health-check result among ``tasks``."""
    latest: tuple[float, float] | None = None
    for task in tasks:
        run_id = await r.hget(keys.schedule_state(task), RunTallyField.LAST_RUN_ID)
        raw = await r.hgetall(keys.result(as_text(run_id))) if run_id else None
        if not raw:
            continue
        try:
            record = ResultRecord.from_fields(raw)
            score = record.body().get("metrics", {}).get("health_score")
        except (RecordError, ValueError, AttributeError):
            continue
        if isinstance(score, int | float) and (latest is None or record.finished_at > latest[0]):
            latest = (record.finished_at, float(score))
    return None if latest is None else latest[1]
