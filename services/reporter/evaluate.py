"""The alert evaluator: reads the read model, calls the pure rules, applies the verdicts.

It runs after each recorded batch of results (for the tasks in that batch) and, every
``alerts.evaluate_every``, over every task (stale schedules and an empty executor fleet
produce no results to react to) together with the store's reminders and the expiry of
alerts other systems never resolve. Every evaluation is state-based, so a missed one is
made up by the next.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Final

from redis.exceptions import ResponseError

from services.reporter.alerting.store import AlertStore
from services.reporter.alerting.transition import Observation
from services.reporter.rules import Finding, TaskView, Verdict, fleet_empty, judge
from shared.config import taskdefs
from shared.config.catalog import Catalog
from shared.config.models import Config, TaskConfig
from shared.contract import alerts
from shared.contract.codec import EventDecodeError, decode, unpack
from shared.contract.events import RESULT_STATUSES, SCHEMA_VERSION, TaskResult
from shared.contract.keys import EXECUTORS_GROUP, Keys
from shared.contract.readmodel import DailyMetrics, ResultRecord, ScheduleState
from shared.contract.records import RecordError, as_text
from shared.runtime.clock import Clock
from shared.runtime.logging import get_logger
from shared.runtime.redis import Redis

log = get_logger("watchkeeper.alerts")
BASELINE_DAYS: Final = 7
BASELINES_KEPT: Final = 4_096
"""Tasks whose baseline (the trailing days' run count and mean duration) is kept for the
rest of the day: those days' metrics do not change but for a late result, and reading
them (seven hashes) was most of an evaluation's reads, made after every batch."""

Baseline = tuple[int, float | None]
UNKNOWN: Final = TaskConfig(handler="unknown", schedule=[])
"""What a task without a definition is judged as (only its runs are judged)."""
DEFAULT_WINDOW: Final = UNKNOWN.alerts.window_runs
"""History entries read before the definition is known (read in the same round trip)."""


@dataclass
class Evaluator:
    """Evaluates the alert rules for a reporter replica."""

    r: Redis
    config: Config
    clock: Clock
    keys: Keys = field(init=False)
    store: AlertStore = field(init=False)
    catalog: Catalog = field(init=False)
    _baselines: OrderedDict[str, tuple[int, Baseline]] = field(
        default_factory=OrderedDict, init=False
    )
    """task → (the day it was read on, its baseline), least recently used first."""

    def __post_init__(self) -> None:
        self.keys = Keys(self.config.namespace)
        self.store = AlertStore.of(self.r, self.keys, self.config.alerts)
        self.catalog = Catalog.from_config(self.config)

    async def after_batch(self, results: list[TaskResult]) -> None:
        """Evaluate the tasks of a freshly recorded batch (never raises: the periodic sweep
        repeats whatever failed here)."""
        tasks = list(dict.fromkeys(r.task for r in results))
        try:
            for name in tasks:
                await self.apply(judge(await self.view(name)))
        except Exception as exc:
            log.error("alerts.evaluation_failed", tasks=tasks, error=f"{type(exc).__name__}: {exc}")

    async def sweep(self) -> None:
        """Evaluate every task and the fleet, send reminders, expire stale foreign alerts."""
        defs = {**self.config.tasks, **await taskdefs.load_all(self.r, self.keys)}
        for name, task in defs.items():
            await self.task(name, task)
        await self.apply([fleet_empty(*await self._fleet())])
        now = self.clock.time()
        ttl = self.config.alerts.external_ttl
        for record in await alerts.active(self.r, self.keys):
            if "rule" not in record.label_map() and now - record.last_seen >= ttl:
                await self.store.resolve(record.key, now)
            else:
                await self.store.remind(record.key, now)

    async def task(self, name: str, task: TaskConfig | None) -> None:
        """Judge one task (its definition may be gone: then only its runs are judged)."""
        await self.apply(judge(await self.view(name, task or UNKNOWN)))

    async def apply(self, verdicts: list[Verdict]) -> None:
        """Raise what holds, resolve what cleared (only the cleared alerts that are active:
        one look for all of them, not one per rule, as most tasks are healthy)."""
        now = self.clock.time()
        cleared = [key for key, finding in verdicts if finding is None]
        active = await alerts.active_among(self.r, self.keys, cleared)
        for key, finding in verdicts:
            if finding is not None:
                await self.store.raise_(_observation(finding, now))
            elif key in active:
                await self.store.resolve(key, now)

    async def view(self, name: str, task: TaskConfig | None = None) -> TaskView:
        """What the rules need about ``name``, read in one round trip; without ``task``
        its stored definition is read in the same trip (else the config's, else
        :data:`UNKNOWN`), and a second trip reads its history when the definition
        asks for another window than the default."""
        now = self.clock.time()
        window = task.alerts.window_runs if task is not None else DEFAULT_WINDOW
        today = int(now // 86_400)
        kept = self._baselines.get(name)
        baseline: Baseline | None = None
        if kept is not None and kept[0] == today:
            baseline = kept[1]
            self._baselines.move_to_end(name)
        days = _baseline_days(today) if baseline is None else ()
        async with self.r.pipeline(transaction=False) as pipe:
            if task is None:
                pipe.hget(self.keys.taskdefs, name)
            pipe.hgetall(self.keys.schedule_state(name))
            pipe.xrevrange(self.keys.task_history(name), count=window)
            for day in days:
                pipe.hgetall(self.keys.metrics(name, day))
            replies = await pipe.execute()
        if task is None:
            stored, *replies = replies
            task = taskdefs.parsed(stored) if stored else self.config.tasks.get(name) or UNKNOWN
        state_raw, history, *metrics = replies
        if task.alerts.window_runs != window:  # a stored window other than the default
            history = await self.r.xrevrange(self.keys.task_history(name),
                                             count=task.alerts.window_runs)  # fmt: skip
        state = _state(state_raw)
        # The rules read the newest result whole, and only the status of the others.
        newest = _decoded(history[0][1]) if history else None
        statuses = [newest.status if newest else None, *(_status(f) for _, f in history[1:])]
        runs, mean = baseline if baseline is not None else self._baseline(name, today, metrics)
        return TaskView(
            task=name, policy=task.alerts, state=state, now=now,
            recent=tuple(s for s in statuses if s is not None),
            last=await self._last(state, newest), baseline_runs=runs, baseline_mean_s=mean,
            schedule=self._schedule(name, task), timeout_s=task.timeout,
        )  # fmt: skip

    def _baseline(self, name: str, today: int, metrics: list[Any]) -> Baseline:
        """The baseline of ``metrics`` (the trailing days' hashes), kept for ``today``."""
        found = _baseline([DailyMetrics.from_fields(m) for m in metrics])
        self._baselines[name] = (today, found)
        self._baselines.move_to_end(name)
        if len(self._baselines) > BASELINES_KEPT:
            self._baselines.popitem(last=False)
        return found

    async def _last(self, state: ScheduleState, newest: TaskResult | None) -> TaskResult | None:
        if newest is not None:
            return newest
        if state.last_run_id is None:
            return None
        raw = await self.r.hgetall(self.keys.result(state.last_run_id))
        try:
            body = ResultRecord.from_fields(raw).event if raw else None
        except RecordError:
            return None
        return _decoded({"type": TaskResult.TYPE, "v": "1", "body": body}) if body else None

    def _schedule(self, name: str, task: TaskConfig) -> Any:
        try:
            return self.catalog.schedule(name, task)
        except Exception as exc:  # a definition the API stored with a schedule we cannot read
            log.warning("alerts.schedule_unreadable", task=name, error=str(exc))
            return None

    async def _fleet(self) -> tuple[int, int]:
        """(executors with a heartbeat, runs waiting on the due streams)."""
        executors = 0
        async for _ in self.r.scan_iter(match=self.keys.executor("*"), count=1000):
            executors += 1
        backlog = 0
        for stream in self.keys.due_streams:
            backlog += await _waiting(self.r, stream)
        return executors, backlog


async def _waiting(r: Redis, stream: str) -> int:
    """Entries of ``stream`` the executors' group has not finished (lag + pending)."""
    try:
        groups: list[dict[Any, Any]] = await r.xinfo_groups(stream)
    except ResponseError:
        return 0  # no such stream: nothing waits
    for group in groups:
        info = {as_text(k): v for k, v in group.items()}
        if as_text(info.get("name", b"")) == EXECUTORS_GROUP:
            return int(info.get("lag") or 0) + int(info.get("pending") or 0)
    return int(await r.xlen(stream))


def _observation(finding: Finding, now: float) -> Observation:
    return Observation(key=finding.key, severity=finding.severity, title=finding.title,
                       message=finding.message, labels=finding.labels,
                       details=finding.details, at=now)  # fmt: skip


def _state(raw: dict[Any, Any]) -> ScheduleState:
    try:
        return ScheduleState.from_fields(raw)
    except RecordError:
        return ScheduleState()


def _decoded(fields: Any) -> TaskResult | None:
    try:
        event = decode(fields)
    except EventDecodeError:
        return None
    return event if isinstance(event, TaskResult) else None


def _status(fields: Any) -> str | None:
    """The status of a history entry, without building the result (its body is only
    unpacked); None for an entry that is not a readable result."""
    try:
        if as_text(fields[b"type"]) != TaskResult.TYPE or as_text(fields[b"v"]) != SCHEMA_VERSION:
            return None
        body = unpack(fields[b"body"])
    except Exception:  # a missing field, garbled msgpack: like an entry decode() refuses
        return None
    status = body.get("status") if isinstance(body, dict) else None
    return status if status in RESULT_STATUSES else None


@lru_cache(maxsize=4)
def _baseline_days(today: int) -> tuple[str, ...]:
    """The ``yyyymmdd`` of the :data:`BASELINE_DAYS` days before day ``today`` (days
    since the epoch, UTC)."""
    day = datetime.fromtimestamp(today * 86_400, UTC)
    return tuple((day - timedelta(days=d)).strftime("%Y%m%d") for d in range(1, BASELINE_DAYS + 1))


def _baseline(days: list[DailyMetrics]) -> tuple[int, float | None]:
    runs = sum(d.runs for d in days)
    return runs, (sum(d.duration_sum for d in days) / runs if runs else None)
