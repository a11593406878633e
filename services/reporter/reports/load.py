"""Reading a report's inputs from Redis: the daily aggregates of every task for the days
the report shows (tasks × days reads, in one pipeline, whatever the number of results),
the task definitions (expected slots), and the alert store."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import msgpack
from pydantic import ValidationError
from redis.exceptions import ResponseError

from services.reporter.reports.model import AlertData, AlertRecord, ReportInputs, build
from services.reporter.reports.periods import Kind, ReportPeriods
from services.reporter.reports.schema import Report
from services.reporter.reports.slots import expected_slots
from shared.config import taskdefs
from shared.config.catalog import Catalog
from shared.config.models import Config, TaskConfig
from shared.contract.keys import Keys
from shared.contract.readmodel import DailyMetrics
from shared.contract.records import RecordError, as_text
from shared.runtime.logging import get_logger
from shared.runtime.redis import Redis

log = get_logger("watchkeeper.reports")
ALERT_LOG_LIMIT = 1000


async def tasks(r: Redis, keys: Keys, config: Config) -> dict[str, TaskConfig]:
    """The config's tasks and those stored in Redis (Redis wins; a bad stored one is left
    out with a warning)."""
    found = dict(config.tasks)
    for name, raw in (await r.hgetall(keys.taskdefs)).items():
        try:
            found[as_text(name)] = taskdefs.parse(raw)
        except ValidationError:
            log.warning("reports.bad_taskdef", task=as_text(name))
    return found


async def daily_metrics(
    r: Redis, keys: Keys, names: list[str], days: tuple[str, ...]
) -> dict[str, dict[str, DailyMetrics]]:
    """task → yyyymmdd → aggregate, for the days that have one."""
    async with r.pipeline(transaction=False) as pipe:
        for name in names:
            for day in days:
                pipe.hgetall(keys.metrics(name, day))
        replies = iter(await pipe.execute(raise_on_error=False))
    found: dict[str, dict[str, DailyMetrics]] = {name: {} for name in names}
    for name in names:
        for day in days:
            raw = next(replies)
            if isinstance(raw, dict) and raw:
                try:
                    found[name][day] = DailyMetrics.from_fields(raw)
                except RecordError as exc:
                    log.warning("reports.bad_metrics", task=name, day=day, error=str(exc))
    return found


def _as_map(value: Any) -> dict[str, Any] | None:
    """A stored alert as a map: JSON or msgpack text, or already a map."""
    if isinstance(value, Mapping):
        return {as_text(k) if isinstance(k, bytes) else str(k): v for k, v in value.items()}
    for decode in (json.loads, msgpack.unpackb):
        try:
            decoded = decode(value)
        except (ValueError, TypeError, msgpack.UnpackException):
            continue
        if isinstance(decoded, dict):
            return _as_map(decoded)
    return None


def _alert(fields: Any) -> tuple[AlertRecord, bool] | None:
    """(alert, resolved?) from a hash value or a log entry, whatever its encoding: an
    event entry (``type``/``v``/``body``), a JSON or msgpack map, or flat fields."""
    m = _as_map(fields)
    if m is None:
        return None
    body = _as_map(m["body"]) if "body" in m else None
    kind = as_text(m.get("type", b"")) if isinstance(m.get("type"), bytes | str) else ""
    a = {k: as_text(v) if isinstance(v, bytes) else v for k, v in (body or m).items()}
    key = a.get("key") or a.get("alert_id")
    if not key:
        return None
    resolved = (
        kind == "alert.resolved" or a.get("state") == "resolved" or bool(a.get("resolved_at"))
    )
    since = a.get("first_seen")
    return AlertRecord(
        key=str(key), severity=str(a.get("severity", "info")), title=str(a.get("title", key)),
        since=float(since) if isinstance(since, int | float | str) and _is_num(since) else None,
        count=int(a["count"]) if _is_num(a.get("count")) else 1,
    ), resolved  # fmt: skip


def _is_num(v: Any) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


async def read_alerts(r: Redis, keys: Keys, start: datetime, end: datetime) -> AlertData | None:
    """Active alerts (``{ns}:alerts``) and those resolved in ``[start, end)`` (from
    ``{ns}:alerts:log``); None when neither exists. Tolerant of the record's encoding,
    which the alert store defines: unreadable entries are skipped."""
    try:
        active: Any = await r.hgetall(keys.alerts_active)
        first, last = int(start.timestamp() * 1000), int(end.timestamp() * 1000) - 1
        logged: Any = await r.xrange(keys.alerts_log, first, last, count=ALERT_LOG_LIMIT)
        exists = await r.exists(keys.alerts_active, keys.alerts_log)
    except ResponseError as exc:  # a key of another type: report without alerts
        log.warning("reports.alerts_unreadable", error=str(exc))
        return None
    if not exists:
        return None
    now = [a for a, _ in filter(None, map(_alert, active.values()))]
    done = [a for a, resolved in filter(None, (_alert(f) for _, f in logged)) if resolved]
    return AlertData(active=tuple(sorted(now, key=lambda a: a.key)), resolved=tuple(done))


async def make_report(
    r: Redis, keys: Keys, config: Config, kind: Kind, day: date, now: datetime
) -> Report:
    """The ``kind`` report dated ``day`` as of ``now``, from what Redis holds."""
    periods = ReportPeriods.of(kind, day)
    defs = await tasks(r, keys, config)
    names = sorted(defs)
    metrics = await daily_metrics(r, keys, names, periods.chart.keys())
    expected = expected_slots(Catalog.from_config(config), defs, periods, now)
    alerts = await read_alerts(r, keys, periods.current.start, min(periods.current.end, now))
    return build(ReportInputs(periods, now, config.timezone, metrics, expected, alerts))
