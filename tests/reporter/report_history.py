"""A fixed, constructed history for the report tests: four tasks over ten days, recorded
through the real reporter (so the aggregates are what production would hold), plus alerts.

The daily report is dated Tuesday 2026-03-10, America/New_York (EDT, UTC-4), made at 18:00
local = 22:00 UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from services.reporter.alerting.store import AlertStore
from services.reporter.alerting.transition import Observation
from services.reporter.service import Reporter
from shared.config.models import Config
from shared.contract.events import TaskResult
from shared.contract.keys import Keys
from shared.runtime.redis import Redis

NOW: Final = datetime(2026, 3, 10, 22, 0, tzinfo=UTC)
DAY_S: Final = 86_400.0
MAR1: Final = datetime(2026, 3, 1, tzinfo=UTC).timestamp()


def config(ns: str, **reports: Any) -> Config:
    """The deployment the history belongs to."""
    return Config.model_validate(config_body(ns, **reports))


def config_body(ns: str, **reports: Any) -> dict[str, Any]:
    """:func:`config` as the YAML file's content."""
    return {
        "namespace": ns, "timezone": "America/New_York",
        "tasks": {
            "data_cleanup": {"handler": "data_cleanup", "schedule": {"cron": "0 2 * * *"}},
            "db_backup": {"handler": "backup", "schedule": {"daily": "01:30"}},
            "health": {"handler": "system_health_check", "schedule": {"every": "1h"}},
            "manual_export": {"handler": "command", "params": {"argv": ["true"]}},
        },
        "reports": reports,
    }  # fmt: skip


def _result(task: str, n: int, at: float, **kw: Any) -> TaskResult:
    fields: dict[str, Any] = {
        "run_id": f"{task}:{n}", "task": task, "handler": task, "attempt": 1,
        "trigger": "schedule", "scheduled_for": at, "status": "succeeded", "started_at": at,
        "finished_at": at + kw.get("duration_s", 1.0), "duration_s": 1.0, "executor": "e1",
    }  # fmt: skip
    return TaskResult(**(fields | kw))


def _cleanup(day: int) -> TaskResult:
    at = MAR1 + day * DAY_S + 6 * 3600
    metrics = {"bytes_freed": 1_048_576 * (day + 1), "files_processed": 10 * (day + 1)}
    if day in (3, 6, 9):
        error = {"type": "OSError", "message": f"disk full on day {day + 1}"}
        return _result("data_cleanup", day, at, status="failed", duration_s=5.0, error=error)
    return _result("data_cleanup", day, at, duration_s=40.0 + day, metrics=metrics)


def _backup(day: int) -> TaskResult:
    at = MAR1 + day * DAY_S + 5.5 * 3600
    return _result("db_backup", day, at, duration_s=162.0 if day == 9 else 100.0)


def _health(day: int, hour: int) -> TaskResult:
    at = MAR1 + day * DAY_S + hour * 3600
    low = day == 9 and hour == 13
    metrics = {"health_score": 42.0 if low else 88.0 + hour % 3,
               "cpu_percent": 91.0 if low else 20.0 + hour, "memory_percent": 55.5,
               "disk_percent": 70.0 + day}  # fmt: skip
    return _result("health", day * 100 + hour, at, duration_s=0.4, metrics=metrics)


def results() -> list[TaskResult]:
    """Every result of the history (March 1 to March 10, 2026)."""
    found = [_cleanup(d) for d in range(10)] + [_backup(d) for d in range(10)]
    found += [_health(d, h) for d in range(9) for h in range(24)]
    found += [_health(9, h) for h in range(18)]  # 18 of the 22 slots due by 22:00
    found += [
        _result("manual_export", 1, MAR1 + 9 * DAY_S + 3600, trigger="manual", duration_s=3.0),
        _result("manual_export", 2, MAR1 + 9 * DAY_S + 7200, trigger="manual",
                status="dead_lettered", message="executor lost the run 3 times"),
    ]  # fmt: skip
    return found


async def record_history(r: Redis, keys: Keys) -> None:
    """Record the history through the reporter, and write the alert store."""
    reporter = Reporter(r, config(keys.ns))
    for result in results():
        assert await reporter.record(result)
    store = AlertStore.of(r, keys, Config().alerts)
    day10 = MAR1 + 9 * DAY_S
    for at in (day10, day10 + 30, day10 + 60):
        disk = Observation(key="system.disk", severity="warning", title="Disk 79 %",
                           message="disk above 75 %", source="health", at=at)  # fmt: skip
        await store.raise_(disk)
    await store.raise_(Observation(key="system.cpu", severity="critical", title="CPU 91 %",
                                   message="cpu at 91 %", source="health",
                                   at=day10 + 13 * 3600))  # fmt: skip
    await store.resolve("system.cpu", day10 + 14 * 3600)
