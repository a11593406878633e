"""Reading a report's inputs from Redis: the daily aggregates of every task for the days
the report shows (tasks × days reads, in one pipeline, whatever the number of results),
the task definitions (expected slots), and the alert store."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import ValidationError
from redis.exceptions import ResponseError

from shared.config import taskdefs
from shared.config.catalog import Catalog
from shared.config.models import Config, TaskConfig
from shared.contract import alerts
from shared.contract.keys import Keys
from shared.contract.readmodel import AlertRecord as StoredAlert
from shared.contract.readmodel import DailyMetrics
from shared.contract.records import RecordError, as_text
from shared.reports.model import AlertData, AlertRecord, ReportInputs, build
from shared.reports.periods import Kind, ReportPeriods
from shared.reports.schema import Report
from shared.reports.slots import expected_slots
from shared.runtime.logging import get_logger
from shared.runtime.redis import Redis

log = get_logger("watchkeeper.reports")


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


def _normalised(record: StoredAlert) -> AlertRecord:
    return AlertRecord(key=record.key, severity=record.severity, title=record.title,
                       since=record.first_seen, count=record.count)  # fmt: skip


async def read_alerts(r: Redis, keys: Keys, start: datetime, end: datetime) -> AlertData | None:
    """Active alerts and those resolved in ``[start, end)``, read through the alert store's
    shared readers (:mod:`shared.contract.alerts`); None when the store holds nothing."""
    try:
        active = await alerts.active(r, keys)
        done = await alerts.resolved_between(r, keys, start.timestamp(), end.timestamp())
        exists = await r.exists(keys.alerts_active, keys.alerts_resolved)
    except ResponseError as exc:  # a key of another type: report without alerts
        log.warning("reports.alerts_unreadable", error=str(exc))
        return None
    if not exists:
        return None
    now = sorted(map(_normalised, active), key=lambda a: a.key)
    return AlertData(active=tuple(now), resolved=tuple(map(_normalised, done)))


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
