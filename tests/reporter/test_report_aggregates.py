"""What the reports need beyond counters is aggregated at record time, once per result:
slots run, the day's last error, and min/max/sum/count of the health gauges."""

from __future__ import annotations

from typing import Any

from services.reporter.record import day_of
from services.reporter.service import Reporter
from shared.config.models import Config
from shared.contract.events import TaskResult
from shared.contract.keys import Keys
from shared.contract.readmodel import DailyMetrics, GaugeDay
from shared.runtime.redis import Redis

T0 = 1_795_400_000.0


def _health(n: int, metrics: dict[str, Any], **kw: Any) -> TaskResult:
    fields: dict[str, Any] = {
        "run_id": f"h:{n}", "task": "health", "handler": "system_health_check", "attempt": 1,
        "trigger": "schedule", "scheduled_for": T0, "status": "succeeded", "started_at": T0,
        "finished_at": T0 + n, "duration_s": 1.0, "executor": "e1", "metrics": metrics,
    }  # fmt: skip
    return TaskResult(**(fields | kw))


async def test_gauges_slots_and_last_error_per_day(r: Redis, keys: Keys) -> None:
    reporter = Reporter(r, Config(namespace=keys.ns))
    samples = [
        {"health_score": 80, "cpu_percent": 10.5, "memory_percent": 40, "disk_percent": 70},
        {"health_score": 35, "cpu_percent": 95.0, "memory_percent": 60, "disk_percent": 71},
        {"health_score": 90.5, "cpu_percent": 5.0, "memory_percent": 50, "disk_percent": 69},
    ]
    for n, metrics in enumerate(samples, 1):
        assert await reporter.record(_health(n, metrics))
    await reporter.record(_health(4, {"health_score": "n/a"}, trigger="manual"))
    error = {"type": "ProbeError", "message": "redis down"}
    await reporter.record(_health(5, {}, attempt=2, status="failed", error=error))
    await reporter.record(_health(6, {}, status="timed_out", message="took too long"))
    assert not await reporter.record(_health(1, samples[0]))  # redelivered: counted once

    day = DailyMetrics.from_fields(await r.hgetall(keys.metrics("health", day_of(T0))))
    assert day.gauges["health_score"] == GaugeDay(35.0, 90.5, 205.5, 3)
    assert day.gauges["cpu_percent"] == GaugeDay(5.0, 95.0, 110.5, 3)
    assert day.gauges["disk_percent"].max == 71
    assert day.slots_run == 4  # schedule first attempts only (not manual, not attempt 2)
    assert day.last_error == "took too long"
    assert day.runs == 6


async def test_error_text_prefers_the_error_and_is_bounded(r: Redis, keys: Keys) -> None:
    reporter = Reporter(r, Config(namespace=keys.ns))
    await reporter.record(_health(1, {}, status="failed",
                                  error={"type": "OSError", "message": "x" * 2000}))  # fmt: skip
    day = DailyMetrics.from_fields(await r.hgetall(keys.metrics("health", day_of(T0))))
    assert day.last_error.startswith("OSError: xxx")
    assert len(day.last_error) == 500
    assert day.gauges == {}
