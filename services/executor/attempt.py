"""The attempt protocol (arq's worker, in one place).

Count the attempt before running, skip past deadlines, resolve the handler, validate
params, run under ``asyncio.timeout``, map the outcome to a status, then publish the
result and ack the due entry in one MULTI/EXEC that cancellation cannot split.
Cancellation at shutdown propagates: the entry stays unacked and is delivered again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from services.executor.handlers import registry
from services.executor.handlers.base import Outcome, RunContext
from services.executor.outcomes import details_for, error_for, message_for, status_for
from shared.clock import Clock
from shared.codec import encode
from shared.events import TaskDue, TaskResult
from shared.keys import EXECUTORS_GROUP, Keys
from shared.logging import get_logger
from shared.redis import Entry, Redis

log = get_logger("watchkeeper.executor")
ATTEMPTS_TTL_S = 7 * 86_400


@dataclass
class Attempt:
    """Runs one due entry to a published result."""

    r: Redis
    keys: Keys
    clock: Clock
    executor_id: str
    allowed_roots: tuple[str, ...] = ()

    async def run(self, entry: Entry, due: TaskDue) -> TaskResult:
        """Execute ``due`` and publish its result; returns the result published."""
        bound = log.bind(run_id=due.run_id, task=due.task, attempt=due.attempt)
        await self._count(due)
        started = self.clock.time()
        if due.deadline is not None and started > due.deadline:
            result = self._result(due, "skipped", started, message="deadline passed before start")
        else:
            result = await self._execute(due, started, bound)
        await asyncio.shield(self.publish(entry, result))
        bound.info("run.finished", status=result.status, duration_s=round(result.duration_s, 3),
                   message=result.message)  # fmt: skip
        return result

    async def _count(self, due: TaskDue) -> None:
        key = self.keys.attempts(due.run_id)
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, ATTEMPTS_TTL_S)
            await pipe.execute()

    async def _execute(self, due: TaskDue, started: float, bound: Any) -> TaskResult:
        spec = registry.get(due.handler)
        if spec is None:
            err = {"type": "UnknownHandler", "message": f"no handler named {due.handler!r}"}
            return self._result(due, "failed", started, message=err["message"], error=err)
        ctx = RunContext(
            run_id=due.run_id, task=due.task, attempt=due.attempt, clock=self.clock, log=bound,
            redis=self.r, keys=self.keys, allowed_roots=self.allowed_roots,
        )  # fmt: skip
        outcome: Outcome | None = None
        failure: Exception | None = None
        try:
            params = spec.parse_params(due.params)
            async with asyncio.timeout(due.timeout_s):
                outcome = await spec.run(ctx, params)
        except Exception as exc:  # every handler failure becomes a result, never a crash
            failure = exc
            if status_for(exc) == "failed":
                bound.warning("run.failed", error=str(exc), error_type=type(exc).__name__)
        return self._from_outcome(due, started, outcome, failure)

    def _from_outcome(
        self, due: TaskDue, started: float, outcome: Outcome | None, exc: Exception | None
    ) -> TaskResult:
        if outcome is not None:
            return self._result(due, "succeeded", started, message=outcome.message,
                                details=outcome.details, metrics=outcome.metrics)  # fmt: skip
        return self._result(
            due, status_for(exc), started, message=message_for(exc, due.timeout_s),
            details=details_for(exc), error=error_for(exc, due.timeout_s),
        )  # fmt: skip

    def _result(self, due: TaskDue, status: str, started: float, **extra: Any) -> TaskResult:
        finished = self.clock.time()
        return TaskResult(
            run_id=due.run_id, task=due.task, handler=due.handler, attempt=due.attempt,
            trigger=due.trigger, scheduled_for=due.scheduled_for, status=status,
            started_at=started, finished_at=finished, duration_s=max(0.0, finished - started),
            executor=self.executor_id, max_attempts=due.max_attempts,
            correlation_id=due.correlation_id, **extra,
        )  # fmt: skip

    async def publish(self, entry: Entry, result: TaskResult) -> None:
        """XADD the result and XACK the due entry atomically."""
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.xadd(self.keys.results, encode(result))  # type: ignore[arg-type]
            pipe.xack(entry.stream, EXECUTORS_GROUP, entry.entry_id)
            pipe.delete(self.keys.run_progress(result.run_id))
            await pipe.execute()
