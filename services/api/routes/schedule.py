"""Schedule: upcoming fires, the due list, statistics, decisions (explain), simulation."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any, Final

from aiohttp import web
from pydantic import Field
from typing_extensions import TypedDict

from services.api.errors import Invalid, NotFound, ParamError
from services.api.routing import BodyModel, Call, Instant, Limit, QueryModel, Route
from shared.config import taskdefs
from shared.config.catalog import Catalog, preview_schedule
from shared.config.checks import DEFAULT_CHECKS
from shared.config.loader import ConfigError, load_text
from shared.config.models import Config, TaskConfig
from shared.config.simulation import range_problem, simulate
from shared.contract import decisions
from shared.contract.readmodel import ScheduleState
from shared.contract.vocabulary import PRIORITIES
from shared.runtime.redis import text
from shared.timing.schedules import InstantOutOfRange

FREQUENCIES: Final = (
    (timedelta(hours=1), "sub_hourly"), (timedelta(days=1), "hourly"),
    (timedelta(days=7), "daily"), (timedelta(days=28), "weekly"),
)  # fmt: skip
"""A task's class by the gap between its next two fires (longer: ``monthly_or_rarer``)."""


class UpcomingQuery(QueryModel):
    """Fires within ``hours`` from ``after`` (default: now)."""

    hours: float = Field(24, gt=0, le=24 * 31)
    limit: Limit = 500
    after: Instant | None = None


class DecisionsQuery(QueryModel):
    """How many recent decisions."""

    count: Limit = 20


class RangeQuery(QueryModel):
    """A simulated range (default: the next 24 hours; at most 31 days)."""

    from_: Instant | None = Field(None, alias="from")
    to: Instant | None = None


class SimulateBody(BodyModel):
    """A config not yet applied (YAML text, as in the file) and the range to simulate."""

    config: str = Field(min_length=1, max_length=1 << 20)
    from_: Instant | None = Field(None, alias="from")
    to: Instant | None = None


class Stats(TypedDict):
    """Totals across tasks (attempt counts as the reporter records them)."""

    tasks: int
    enabled: int
    paused: int
    runs: int
    successes: int
    failures: int
    success_rate: float | None
    by_frequency: dict[str, int]
    by_last_status: dict[str, int]


async def _tasks(call: Call) -> dict[str, TaskConfig]:
    return await taskdefs.load_all(call.r, call.keys)


async def upcoming(call: Call) -> web.Response:
    """Every fire of every task within ``hours`` from now, in time order."""
    q = call.q(UpcomingQuery)
    now = q.after or call.clock.now()
    try:
        horizon = now + timedelta(hours=q.hours)
    except OverflowError:
        raise ParamError("after", "plus hours is past the year 9999") from None
    config = call.config.model_copy(update={"tasks": await _tasks(call)})
    catalog = Catalog.from_config(config)
    fires: list[dict[str, Any]] = []
    for name, task in sorted(config.tasks.items()):
        schedule = catalog.schedule(name, task)
        try:
            found = preview_schedule(schedule, now, q.limit, config.timezone) if schedule else []
        except InstantOutOfRange as exc:
            raise ParamError("after", str(exc)) from None
        fires.extend({"task": name, **f.as_dict()} for f in found if f.at < horizon)
    fires.sort(key=lambda f: (f["utc"], f["task"]))
    return web.json_response({
        "from": now.isoformat(), "to": horizon.isoformat(), "fires": fires[: q.limit],
        "truncated": len(fires) > q.limit,
    })  # fmt: skip


async def due(call: Call) -> web.Response:
    """What is due: tasks past their next fire, runs queued per priority, retries."""
    now = call.clock.time()
    async with call.r.pipeline(transaction=False) as pipe:
        pipe.zrangebyscore(call.keys.schedule_next, "-inf", now, withscores=True)
        pipe.zrange(call.keys.schedule_retries, 0, 499, withscores=True)
        for priority in PRIORITIES:
            pipe.xlen(call.keys.due(priority))
        overdue, retries, *queued = await pipe.execute()
    return web.json_response({
        "now": now,
        "overdue": [{"task": text(t), "next_fire": s, "late_s": round(now - s, 3)}
                    for t, s in overdue],
        "queued": dict(zip(PRIORITIES, queued, strict=True)),
        "retries": [_retry(text(m), s) for m, s in retries],
    })  # fmt: skip


def _retry(member: str, due_at: float) -> dict[str, Any]:
    task, run_id, attempt, *_ = [*member.split("|"), "", "", ""]
    return {"task": task, "run_id": run_id, "attempt": attempt, "due_at": due_at}


async def stats(call: Call) -> web.Response:
    """Totals, success rate, tasks by frequency and by last status."""
    tasks = await _tasks(call)
    names = sorted(tasks)
    async with call.r.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hgetall(call.keys.schedule_state(name))
        states = [ScheduleState.from_fields(raw) for raw in await pipe.execute()]
    runs, ok = sum(s.runs for s in states), sum(s.successes for s in states)
    config = call.config.model_copy(update={"tasks": tasks})
    return web.json_response(Stats(
        tasks=len(names), enabled=sum(t.enabled for t in tasks.values()),
        paused=sum(s.paused for s in states), runs=runs, successes=ok,
        failures=sum(s.failures for s in states),
        success_rate=round(ok / runs, 4) if runs else None,
        by_frequency=dict(Counter(_frequency(config, n, call.clock.now()) for n in names)),
        by_last_status=dict(Counter(s.last_status or "never_run" for s in states)),
    ))  # fmt: skip


def _frequency(config: Config, name: str, now: datetime) -> str:
    schedule = Catalog.from_config(config).schedule(name, config.tasks[name])
    fires = preview_schedule(schedule, now, 2, "UTC") if schedule else []
    if len(fires) < 2:
        return "unscheduled" if not fires else "once"
    gap = fires[1].at - fires[0].at
    return next((label for limit, label in FREQUENCIES if gap < limit), "monthly_or_rarer")


async def task_decisions(call: Call) -> web.Response:
    """Why the task's recent slots fired or did not (oldest first)."""
    name = call.path("task")
    found = await decisions.recent(call.r, call.keys, name, call.q(DecisionsQuery).count)
    if not found and await taskdefs.load(call.r, call.keys, name) is None:
        raise NotFound(f"unknown task {name!r}", details={"task": name})
    return web.json_response({"task": name, "decisions": [
        {**d.as_dict(), "sentence": d.sentence()} for d in found]})  # fmt: skip


def _range(call: Call, start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    start = start or call.clock.now()
    end = end or start + timedelta(days=1)
    problem = range_problem(start, end)
    if problem is not None:
        raise ParamError("to", problem)
    return start, end


def _simulated(config: Config, start: datetime, end: datetime, paused: set[str]) -> Any:
    try:
        result = simulate(config, start, end, paused=paused)
    except InstantOutOfRange as exc:
        raise ParamError("from", str(exc)) from None
    return result.as_dict(start, end, config.timezone)


async def simulate_running(call: Call) -> web.Response:
    """Simulate the deployed definitions (the running config's calendars and windows)."""
    q = call.q(RangeQuery)
    start, end = _range(call, q.from_, q.to)
    config = call.config.model_copy(update={"tasks": await _tasks(call)})
    paused = {text(t) for t in await call.r.smembers(call.keys.schedule_paused)}
    return web.json_response(_simulated(config, start, end, paused))


async def simulate_posted(call: Call) -> web.Response:
    """Simulate a config that is not applied (nothing is written)."""
    body = call.b(SimulateBody)
    start, end = _range(call, body.from_, body.to)
    try:
        config = load_text(body.config, source="posted config", env={},
                           checks=DEFAULT_CHECKS).config  # fmt: skip
    except ConfigError as exc:
        errors = [{"field": "config." + i.path if i.path else "config", "message": i.message,
                   "line": i.line} for i in exc.issues]  # fmt: skip
        headline = f"the posted config is invalid: {exc.issues[0]}"
        raise Invalid.listing(errors, "body", headline) from None
    return web.json_response(_simulated(config, start, end, set()))


_S = "/api/v1/schedule"
ROUTES = (
    Route(method="GET", path=_S + "/upcoming", handler=upcoming, tag="schedule",
          summary="Upcoming fires across tasks", query=UpcomingQuery),
    Route(method="GET", path=_S + "/due", handler=due, tag="schedule",
          summary="Overdue tasks, queued runs per priority, pending retries"),
    Route(method="GET", path=_S + "/stats", handler=stats, tag="schedule",
          summary="Statistics summary", response=Stats),
    Route(method="GET", path="/api/v1/tasks/{task}/decisions", handler=task_decisions,
          tag="schedule", summary="Why recent slots fired or not (explain)",
          query=DecisionsQuery),
    Route(method="GET", path=_S + "/simulate", handler=simulate_running, tag="schedule",
          summary="Simulate the deployed schedule over a range", query=RangeQuery),
    Route(method="POST", path=_S + "/simulate", handler=simulate_posted, tag="schedule",
          summary="Simulate a config that is not applied (nothing written)",
          body=SimulateBody),
)  # fmt: skip
