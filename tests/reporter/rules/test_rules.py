"""Each alert rule fires and clears on a constructed history (pure, no Redis)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from services.reporter.rules import TaskView, fleet_empty, judge
from services.reporter.rules.resources import resources
from services.reporter.rules.runs import (
    consecutive_failures,
    dead_lettered,
    duration_regression,
    failure_rate,
)
from services.reporter.rules.stale import stale
from shared.config.catalog import Catalog
from shared.config.models import Config, TaskAlerts, TaskConfig
from shared.contract.events import TaskResult
from shared.contract.readmodel import ScheduleState

# Monday 2026-01-05 12:00 UTC = 07:00 in New York (before the session opens)
MONDAY_NOON = datetime(2026, 1, 5, 12, 0, tzinfo=UTC).timestamp()
NYSE = {"timezone": "America/New_York", "sessions": {"mon-fri": "09:30-16:00"}}


def _result(status: str = "succeeded", duration: float = 10.0, **kw: Any) -> TaskResult:
    fields: dict[str, Any] = {
        "run_id": "r1", "task": "t", "handler": "command", "attempt": 1, "trigger": "schedule",
        "scheduled_for": 0.0, "status": status, "started_at": 0.0, "finished_at": 1.0,
        "duration_s": duration, "executor": "e1",
    }  # fmt: skip
    return TaskResult(**(fields | kw))


def _view(**kw: Any) -> TaskView:
    fields: dict[str, Any] = {"task": "t", "policy": TaskAlerts(), "state": ScheduleState(),
                              "now": MONDAY_NOON}  # fmt: skip
    return TaskView(**(fields | kw))


def _fired(verdicts: list[tuple[str, Any]]) -> dict[str, str | None]:
    return {key: (f.severity if f else None) for key, f in verdicts}


def test_failure_rate_needs_enough_runs_and_clears() -> None:
    key = "task.failure_rate:t"
    assert _fired(failure_rate(_view(recent=("failed",) * 9))) == {key: None}  # < 10 runs
    history = ("failed",) * 6 + ("succeeded",) * 4 + ("skipped",) * 5
    assert _fired(failure_rate(_view(recent=history))) == {key: "warning"}
    assert _fired(failure_rate(_view(recent=("succeeded",) * 6 + history))) == {key: None}
    tolerant = _view(recent=history, policy=TaskAlerts(failure_rate=0.7))
    assert _fired(failure_rate(tolerant)) == {key: None}


def test_consecutive_failures_warn_then_go_critical() -> None:
    key = "task.consecutive_failures:t"
    runs = [_fired(consecutive_failures(_view(state=ScheduleState(consecutive_failures=n))))[key]
            for n in (0, 2, 3, 5, 6)]  # fmt: skip
    assert runs == [None, None, "warning", "warning", "critical"]
    (_, finding), = consecutive_failures(_view(state=ScheduleState(
        consecutive_failures=3, last_error='{"message": "exit 1"}')))  # fmt: skip
    assert finding is not None and "exit 1" in finding.message


def test_duration_regression_against_the_trailing_mean() -> None:
    key = "task.duration_regression:t"
    base = {"baseline_runs": 7, "baseline_mean_s": 10.0}
    assert _fired(duration_regression(_view(last=_result(duration=16.0), **base))) == {
        key: "warning"
    }
    assert _fired(duration_regression(_view(last=_result(duration=14.0), **base))) == {key: None}
    assert duration_regression(_view(last=_result("failed", 99.0), **base)) == []  # not judged
    few = {"baseline_runs": 2, "baseline_mean_s": 1.0}
    assert _fired(duration_regression(_view(last=_result(duration=99.0), **few))) == {key: None}


def test_dead_lettered_until_the_next_success() -> None:
    key = "executor.dead_lettered:t"
    assert _fired(dead_lettered(_view(last=_result("dead_lettered")))) == {key: "critical"}
    assert dead_lettered(_view(last=_result("failed"))) == []
    assert _fired(dead_lettered(_view(last=_result()))) == {key: None}


def _health(usage: dict[str, float], score: float, probes: list[dict[str, Any]]) -> TaskResult:
    return _result(handler="system_health_check", metrics={"health_score": score},
                   details={"usage": usage, "probes": probes,
                            "thresholds": {"cpu": 80, "memory": 85, "disk": 90,
                                           "disk:/data": 70}})  # fmt: skip


def test_resource_score_and_probe_rules() -> None:
    bad = _health({"cpu": 85.0, "memory": 99.0, "disk:/": 50.0, "disk:/data": 75.0}, 25.0,
                  [{"name": "gateway", "kind": "http", "ok": False, "error": "HTTP 503"},
                   {"name": "db", "kind": "tcp", "ok": True}])  # fmt: skip
    assert _fired(resources(_view(last=bad))) == {
        "system.cpu": "warning", "system.memory": "critical", "system.disk": "warning",
        "system.health_score": "critical", "probe.gateway": "critical", "probe.db": None,
    }  # fmt: skip
    good = _health({"cpu": 5.0, "memory": 5.0, "disk:/": 5.0}, 95.0,
                   [{"name": "gateway", "kind": "http", "ok": True}])  # fmt: skip
    assert set(_fired(resources(_view(last=good))).values()) == {None}
    assert _fired(resources(_view(last=_health({}, 45.0, []))))["system.health_score"] == "warning"
    assert resources(_view(last=_result())) == []  # not a health check: nothing judged


def _schedule(config: Config, task: TaskConfig) -> Any:
    return Catalog.from_config(config).schedule("t", task)


def test_stale_counts_expected_slots_and_honours_calendar_and_pause() -> None:
    key = "task.stale:t"
    hourly = TaskConfig(handler="command", schedule={"every": "1h"}, timeout=60)  # type: ignore[arg-type]
    config = Config(tasks={"t": hourly})
    view = _view(schedule=_schedule(config, hourly), timeout_s=60.0)
    recent = ScheduleState(last_run_at=MONDAY_NOON - 3600)
    long_ago = ScheduleState(last_run_at=MONDAY_NOON - 3 * 3600)
    assert _fired(stale(replace(view, state=recent))) == {key: None}
    assert _fired(stale(replace(view, state=long_ago))) == {key: "warning"}
    paused = replace(long_ago, paused=True)
    assert _fired(stale(replace(view, state=paused))) == {key: None}
    assert stale(replace(view, state=ScheduleState())) == []  # never ran: not judged

    # Market hours only: Friday's close → Monday 07:00 New York expects no slot at all.
    market = TaskConfig(handler="command", schedule={"every": "30m", "during": "nyse"})  # type: ignore[arg-type]
    config = Config(tasks={"t": market}, calendars={"nyse": NYSE})
    friday_close = datetime(2026, 1, 2, 21, 0, tzinfo=UTC).timestamp()
    weekend = _view(
        schedule=_schedule(config, market), state=ScheduleState(last_run_at=friday_close)
    )
    assert _fired(stale(weekend)) == {key: None}
    monday_open = replace(weekend, now=datetime(2026, 1, 5, 16, 0, tzinfo=UTC).timestamp())
    assert _fired(stale(monday_open)) == {key: "warning"}  # 11:00 NY: slots since 09:30 missed


def test_stale_after_days_with_one_missed_weekly_slot() -> None:
    weekly = TaskConfig(handler="backup", schedule={"weekly": ["sun"], "at": "01:30"})  # type: ignore[arg-type]
    view = _view(schedule=_schedule(Config(tasks={"t": weekly}), weekly),
                 state=ScheduleState(last_run_at=MONDAY_NOON - 8 * 86400))  # fmt: skip
    assert _fired(stale(view)) == {"task.stale:t": "warning"}  # one slot missed, 8 days quiet
    relaxed = replace(view, policy=TaskAlerts(stale_after=30 * 86400))
    assert _fired(stale(relaxed)) == {"task.stale:t": None}


def test_fleet_and_disabled_alerts() -> None:
    assert fleet_empty(0, 3)[1] is not None
    assert fleet_empty(1, 3)[1] is None and fleet_empty(0, 0)[1] is None
    off = _view(policy=TaskAlerts(enabled=False), state=ScheduleState(consecutive_failures=9))
    assert _fired(judge(off))["task.consecutive_failures:t"] is None
