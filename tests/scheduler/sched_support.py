"""Helpers for scheduler tests: build a scheduler on the test namespace, read streams."""

from __future__ import annotations

from typing import Any

from services.scheduler.service import Scheduler
from shared.config import taskdefs
from shared.config.models import Config, TaskConfig
from shared.contract.codec import decode, encode
from shared.contract.decisions import recent
from shared.contract.events import TaskDue, TaskResult
from shared.contract.keys import Keys
from shared.runtime.clock import FakeClock
from shared.runtime.redis import Redis

T0 = 1_800_000_000.0
"""A whole minute (epoch seconds) the fake clock starts at."""


async def make(
    r: Redis, keys: Keys, clock: FakeClock, tasks: dict[str, dict[str, Any]], **extra: Any
) -> Scheduler:
    """A started scheduler whose definitions are ``tasks`` (handler defaults to command)."""
    defs = {n: TaskConfig(**{"handler": "command", **spec}) for n, spec in tasks.items()}
    config = Config(namespace=keys.ns, tasks=defs, **extra)
    await taskdefs.apply(r, keys, config)
    scheduler = Scheduler(r, config, clock=clock)
    await scheduler.start()
    return scheduler


async def dues(r: Redis, keys: Keys, priority: str = "normal") -> list[TaskDue]:
    """Every task.due on one priority stream, oldest first."""
    events = [decode(fields) for _, fields in await r.xrange(keys.due(priority))]
    return [e for e in events if isinstance(e, TaskDue)]


async def outcomes(r: Redis, keys: Keys, task: str) -> list[tuple[str, str]]:
    """(outcome, ``cause: reason``) of the task's recorded decisions, oldest first."""
    return [(d.outcome, d.why) for d in await recent(r, keys, task, 100)]


def result_of(due: TaskDue, status: str, at: float, attempt: int | None = None) -> TaskResult:
    """The result an executor would publish for ``due``."""
    return TaskResult(
        run_id=due.run_id, task=due.task, handler=due.handler, attempt=attempt or due.attempt,
        trigger=due.trigger, scheduled_for=due.scheduled_for, status=status, started_at=at,
        finished_at=at, duration_s=0.0, executor="test", max_attempts=due.max_attempts,
        message=f"{status} in test",
    )  # fmt: skip


async def publish_result(r: Redis, keys: Keys, due: TaskDue, status: str, at: float) -> None:
    """Publish the result of ``due`` as an executor would."""
    await r.xadd(keys.results, encode(result_of(due, status, at)))  # type: ignore[arg-type]
