"""The alert evaluator's reads after a batch: a task's trailing-days baseline once a day
(the seven metrics hashes are not read again after every batch; a new day reads them
afresh), and its definition in the same round trip as its state and history."""

from __future__ import annotations

from typing import Any

from services.reporter.evaluate import Evaluator
from services.reporter.service import Reporter
from shared.config import taskdefs
from shared.config.models import Config, TaskConfig
from shared.contract.events import TaskResult
from shared.contract.keys import Keys
from shared.runtime.clock import FakeClock
from shared.runtime.redis import Redis

DAY = 86_400.0
T0 = 1_800_000_000.0 - 1_800_000_000.0 % DAY + 12 * 3600  # noon UTC
TASK = TaskConfig(handler="command", params={"argv": ["true"]})


def _result(n: int, finished_at: float) -> TaskResult:
    return TaskResult(
        run_id=f"backup:{n}", task="backup", handler="command", attempt=1,
        trigger="schedule", scheduled_for=finished_at - 2, status="succeeded",
        started_at=finished_at - 2, finished_at=finished_at, duration_s=2.0, executor="e1",
    )  # fmt: skip


async def _hgetalls(r: Redis) -> int:
    stats: Any = await r.info("commandstats")
    return int(stats.get("cmdstat_hgetall", {}).get("calls", 0))


async def test_the_baseline_is_read_once_a_day(r: Redis, keys: Keys) -> None:
    config = Config(namespace=keys.ns)
    clock = FakeClock(T0)
    reporter, evaluator = Reporter(r, config, clock=clock), Evaluator(r, config, clock)
    await reporter.record(_result(1, T0 - DAY))  # yesterday
    before = await _hgetalls(r)
    view = await evaluator.view("backup", TASK)
    assert (view.baseline_runs, view.baseline_mean_s) == (1, 2.0)
    assert await _hgetalls(r) - before == 8  # the state and seven days of metrics

    await reporter.record(_result(2, T0 - DAY))  # a late result for yesterday
    before = await _hgetalls(r)
    view = await evaluator.view("backup", TASK)
    assert view.baseline_runs == 1  # kept for the rest of today
    assert await _hgetalls(r) - before == 1  # only the state

    clock.advance(DAY)  # tomorrow: read afresh, both runs now count
    view = await evaluator.view("backup", TASK)
    assert (view.baseline_runs, view.baseline_mean_s) == (2, 2.0)


async def test_the_definition_is_read_with_the_view_and_sets_the_window(
    r: Redis, keys: Keys
) -> None:
    config = Config(namespace=keys.ns)
    clock = FakeClock(T0)
    reporter, evaluator = Reporter(r, config, clock=clock), Evaluator(r, config, clock)
    await reporter.record_batch([_result(n, T0 - 60 + n) for n in range(30)])
    view = await evaluator.view("backup")  # nothing stored: judged with the default window
    assert (len(view.recent), view.policy.window_runs) == (20, 20)
    wide = TASK.model_copy(update={"alerts": TASK.alerts.model_copy(update={"window_runs": 25})})
    await taskdefs.put(r, keys, "backup", wide)
    view = await evaluator.view("backup")  # the stored window: its history read again
    assert (len(view.recent), view.policy.window_runs) == (25, 25)
