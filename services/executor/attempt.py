"""The attempt protocol (arq's worker, in one place).

Take the run's cluster-wide leases (``max_instances``, resource groups), count the
attempt before running, skip past deadlines, resolve the handler, validate params,
preserve what it will change, run under ``asyncio.timeout``, map the outcome to a
status (restoring the rollback point under ``rollback: auto``), then publish the
result and ack the due entry in one fenced script call that cancellation cannot split.
Cancellation at shutdown propagates: the entry stays unacked and is delivered again;
a cancel request (:mod:`services.executor.cancel`) ends in a ``cancelled`` result.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from services.executor.cancel import Cancels
from services.executor.handlers import registry
from services.executor.handlers.base import Outcome, RunContext
from services.executor.handlers.registry import HandlerSpec
from services.executor.outcomes import details_for, error_for, message_for, status_for
from services.executor.preserve import Preserver
from services.executor.progress import RedisProgress
from services.executor.publish import Publisher
from services.executor.semaphores import Lease, Semaphores, limits_for
from shared.contract.events import TaskDue, TaskResult
from shared.contract.keys import Keys
from shared.runtime.clock import Clock
from shared.runtime.logging import get_logger
from shared.runtime.redis import Entry, Redis, RedisUnavailable
from shared.runtime.rollbacks import RollbackPoint
from shared.timing.backoff import backoff_s

log = get_logger("watchkeeper.executor")
ATTEMPTS_TTL_S = 7 * 86_400
PUBLISH_RETRY_FIRST_S: Final = 0.05
PUBLISH_RETRY_CAP_S: Final = 1.0
"""A result waiting for Redis is retried at least once a second, so it is published
within about a second of Redis answering again."""


def with_attempt(due: TaskDue, attempt: int) -> TaskDue:
    """``due`` as attempt number ``attempt``: itself when it is already (a first delivery,
    the usual case), else a copy."""
    return due if due.attempt == attempt else replace(due, attempt=attempt)


def _at_once() -> float:
    return float("-inf")


@dataclass
class Attempt:
    """Runs one due entry to a published result."""

    r: Redis
    keys: Keys
    clock: Clock
    executor_id: str
    allowed_roots: tuple[str, ...] = ()
    publisher: Publisher = field(init=False)
    cancels: Cancels = field(init=False)
    semaphores: Semaphores = field(init=False)
    preserver: Preserver = field(default_factory=lambda: Preserver(None))
    resource_groups: Mapping[str, int] = field(default_factory=dict)
    lease_ms: int = 60_000
    artifacts_dir: Path | None = None
    database_url: str | None = None
    """``database.url``: the default DSN of database handlers (never logged)."""
    publish_until: Callable[[], float] = _at_once
    """The ``clock.monotonic()`` instant after which a result that cannot be published
    (Redis down) is given up on: its entry may then be reclaimed and run elsewhere."""

    def __post_init__(self) -> None:
        # Built once: binding a run's fields to a built logger costs a dict copy; to the
        # module's lazy proxy, a new logger and output wrapper per run.
        self._log = log.bind()
        self.publisher = Publisher(self.r, self.keys, self.executor_id)
        self.cancels = Cancels(self.r, self.keys)
        self.semaphores = Semaphores(self.r, self.lease_ms, self.clock)

    async def run(self, entry: Entry, due: TaskDue) -> TaskResult:
        """Execute ``due`` (already counted, see :meth:`count`) and publish its result.

        Returns the result, published or not (a late ack is dropped by the publisher).
        """
        bound = self._log.bind(run_id=due.run_id, task=due.task, attempt=due.attempt)
        limits = limits_for(due, self.keys, self.resource_groups)
        holder = f"{due.run_id}@{self.executor_id}"
        acquired = await self.semaphores.take(holder, limits, self._give_up_at(due))
        try:
            result = await self._attempt(due, acquired, bound)
            # The publish script gives the leases back; if it never runs (Redis gone until
            # the entry may be reclaimed), they lapse unrenewed within a lease.
            lease = self.semaphores.hand_over(holder)
            published = await self._publish(entry, result, bound, lease)  # see Publisher
        finally:
            await self.semaphores.give_back(holder)
        if published:
            bound.info("run.finished", status=result.status, message=result.message,
                       duration_s=round(result.duration_s, 3))  # fmt: skip
        return result

    async def _publish(
        self, entry: Entry, result: TaskResult, bound: Any, lease: Lease | None = None
    ) -> bool:
        """Publish ``result``, retrying through a Redis outage with capped, jittered
        backoff: a run that finished must not run again. Gives up (re-raising) only when
        the entry could soon be reclaimed anyway (see ``publish_until``)."""
        failures = 0
        while True:
            try:
                return await self.publisher.publish(entry, result, lease)
            except RedisUnavailable as exc:
                wait = backoff_s(failures, first_s=PUBLISH_RETRY_FIRST_S,
                                 cap_s=PUBLISH_RETRY_CAP_S, rand=random.random())  # fmt: skip
                if self.clock.monotonic() + wait >= self.publish_until():
                    bound.error("run.publish_given_up", error=str(exc), tries=failures + 1,
                                status=result.status, reason="left for the reclaimer")  # fmt: skip
                    raise
                if failures == 0:
                    bound.warning("run.publish_retrying", error=str(exc), status=result.status)
                failures += 1
                await self.clock.sleep(wait)

    def _give_up_at(self, due: TaskDue) -> float | None:
        """The deadline on the clock's monotonic time (how long a run may wait for a lease)."""
        if due.deadline is None:
            return None
        return self.clock.monotonic() + (due.deadline - self.clock.time())

    async def _attempt(self, due: TaskDue, acquired: bool, bound: Any) -> TaskResult:
        started = self.clock.time()
        if not acquired:
            waited = "deadline passed while waiting for a concurrency limit"
            return self._result(due, "skipped", started, message=waited)
        if due.deadline is not None and started > due.deadline:
            return self._result(due, "skipped", started, message="deadline passed before start")
        spec = registry.get(due.handler)
        if spec is None:
            err = {"type": "UnknownHandler", "message": f"no handler named {due.handler!r}"}
            return self._result(due, "failed", started, message=err["message"], error=err)
        return await self._execute(spec, due, started, bound)

    async def count(self, dues: list[TaskDue]) -> list[TaskDue]:
        """Count one attempt of each run, before any of them starts (one round trip);
        returns each due carrying the attempt just counted, the one its result reports.

        Counted before running, so an attempt that kills its process still counts, and a
        redelivered run reports itself as the attempt it really is.
        """
        if not dues:
            return []
        async with self.r.pipeline(transaction=False) as pipe:
            for due in dues:
                pipe.incr(self.keys.attempts(due.run_id))
                pipe.expire(self.keys.attempts(due.run_id), ATTEMPTS_TTL_S)
            replies = await pipe.execute()
        return [with_attempt(due, int(n)) for due, n in zip(dues, replies[::2], strict=True)]

    async def counted(self, due: TaskDue) -> TaskDue:
        """``due`` carrying the attempts counted so far (for a run given up on unrun)."""
        n = await self.r.get(self.keys.attempts(due.run_id))
        return with_attempt(due, int(n)) if n else due

    def context(self, due: TaskDue, bound: Any) -> RunContext:
        """The handler's view of this attempt (logger bound to run_id/task/attempt)."""
        progress = RedisProgress(self.r, self.keys.run_progress(due.run_id), self.clock,
                                 self.executor_id, stream=self.keys.progress_stream,
                                 run_id=due.run_id, task=due.task)  # fmt: skip
        return RunContext(
            run_id=due.run_id, task=due.task, attempt=due.attempt, clock=self.clock, log=bound,
            redis=self.r, keys=self.keys, allowed_roots=self.allowed_roots,
            progress_sink=progress, artifacts_dir=self.artifacts_dir,
            database_url=self.database_url,
        )  # fmt: skip

    async def _execute(
        self, spec: HandlerSpec, due: TaskDue, started: float, bound: Any
    ) -> TaskResult:
        ctx = self.context(due, bound)
        point: RollbackPoint | None = None
        outcome: Outcome | None = None
        failure: Exception | None = None
        try:
            params = spec.parse_params(due.params)
            async with asyncio.timeout(due.timeout_s):
                point = await self.preserver.prepare(spec, ctx, params, due)
                outcome = await self.cancels.run(due.run_id, spec.run(ctx, params))
        except asyncio.CancelledError:
            await self.preserver.undo_interrupted(point, due, bound)
            raise
        except Exception as exc:  # every handler failure becomes a result, never a crash
            failure = exc
            if status_for(exc) == "failed":
                bound.warning("run.failed", error=str(exc), error_type=type(exc).__name__)
        result = self._from_outcome(due, started, outcome, failure, ctx.record())
        return await self.preserver.settle(result, point, due, bound)

    def _from_outcome(
        self, due: TaskDue, started: float, outcome: Outcome | None, exc: Exception | None,
        record: dict[str, Any],
    ) -> TaskResult:  # fmt: skip
        """The result of a finished attempt; ``record`` (steps, artifacts) joins its details."""
        if outcome is not None:
            return self._result(due, "succeeded", started, message=outcome.message,
                                details={**record, **outcome.details},
                                metrics=outcome.metrics)  # fmt: skip
        return self._result(
            due, status_for(exc), started, message=message_for(exc, due.timeout_s),
            details={**record, **details_for(exc)}, error=error_for(exc, due.timeout_s),
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

    def dead_lettered(self, due: TaskDue, reason: str) -> TaskResult:
        """The ``dead_lettered`` result for a run given up on (see the reclaimer)."""
        now = self.clock.time()
        err = {"type": "DeadLettered", "message": reason}
        return self._result(due, "dead_lettered", now, message=reason, error=err)
