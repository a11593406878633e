"""Tasks: list, get, create, update, delete, enable/disable, pause/resume, next fires.

Definitions live in Redis (``shared.config.taskdefs``); every write also sends
``control.task_changed``, so the scheduler recomputes the task's next fire at once.
Pause and resume are control events the scheduler applies.
"""

from __future__ import annotations

import re
from typing import Any, NotRequired

from aiohttp import web
from pydantic import ConfigDict, Field, ValidationError
from typing_extensions import TypedDict

from services.api.errors import BadRequest, Conflict, Invalid, NotFound, ParamError
from services.api.routing import (
    BodyModel,
    Call,
    Instant,
    Limit,
    Offset,
    QueryModel,
    Route,
    invalid,
)
from shared.config import taskdefs
from shared.config.catalog import preview_task
from shared.config.checks import check_task
from shared.config.models import TaskConfig
from shared.config.priority import breakdown
from shared.contract.codec import encode
from shared.contract.events import TaskPaused, TaskResumed
from shared.contract.keys import Keys
from shared.contract.readmodel import ScheduleState
from shared.runtime.redis import Redis, text
from shared.timing.schedules import InstantOutOfRange
from shared.timing.triggers import TriggerSpecError

TASK_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


class TaskSummary(TypedDict):
    """One task in a listing: its definition's headline, state and next fire."""

    name: str
    handler: str
    description: str
    enabled: bool
    paused: bool
    priority: str
    category: str
    tags: list[str]
    window: str | None
    timezone: str
    next_fire: float | None
    last_status: str | None
    last_run_at: float | None
    consecutive_failures: int
    definition: NotRequired[dict[str, Any]]
    """With ``full=true``: the whole definition, as ``GET /tasks/{task}`` gives it."""
    state: NotRequired[dict[str, Any]]
    """With ``full=true``: the schedule state, as ``GET /tasks/{task}`` gives it."""


class TaskPage(TypedDict):
    """A page of tasks."""

    items: list[TaskSummary]
    total: int
    limit: int
    offset: int


class TaskDetail(TypedDict):
    """One task: its full definition, schedule state and next fire."""

    name: str
    definition: dict[str, Any]
    state: dict[str, Any]
    next_fire: float | None


class Accepted(TypedDict):
    """A request handed to the scheduler (it acts on it within milliseconds)."""

    task: str
    status: str


class TaskQuery(QueryModel):
    """Filters and page of ``GET /tasks``."""

    enabled: bool | None = None
    handler: str | None = None
    tag: str | None = None
    full: bool = Field(False, description="Add each task's definition and state to its item.")
    limit: Limit = 100
    offset: Offset = 0


class NextQuery(QueryModel):
    """``count`` fires after ``after`` (default: now)."""

    count: Limit = 10
    after: Instant | None = None


class CreateTask(BodyModel):
    """A new task: its name and definition (the same fields as in the YAML file)."""

    name: str = Field(pattern=TASK_NAME.pattern)
    definition: TaskConfig


class PauseBody(BodyModel):
    """Why the task is paused (kept with the control event)."""

    reason: str | None = Field(None, max_length=500)


class TaskPatch(BodyModel):
    """Fields of the definition to change; the rest stay as stored."""

    model_config = ConfigDict(
        frozen=True, extra="allow",
        json_schema_extra={"description": "Any fields of a task definition (as in the YAML "
                           "file); the others keep their stored values."},
    )  # fmt: skip


async def require_task(r: Redis, keys: Keys, name: str) -> TaskConfig:
    """The stored definition of ``name``, or a 404."""
    task = await taskdefs.load(r, keys, name)
    if task is None:
        raise NotFound(f"unknown task {name!r}", details={"task": name})
    return task


async def _states(r: Redis, keys: Keys, names: list[str]) -> list[ScheduleState]:
    async with r.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hgetall(keys.schedule_state(name))
        raws = await pipe.execute()
    return [ScheduleState.from_fields(raw) for raw in raws]


async def _next_fires(r: Redis, keys: Keys) -> dict[str, float]:
    raw: Any = await r.zrange(keys.schedule_next, 0, -1, withscores=True)
    return {text(name): float(score) for name, score in raw}


def task_zone(task: TaskConfig, default: str) -> str:
    """The zone a task's schedule reads its times in (its first spec's, else ``default``)."""
    return next((str(s["timezone"]) for s in task.schedule if s.get("timezone")), default)


def _summary(
    name: str, t: TaskConfig, s: ScheduleState, nxt: float | None, zone: str
) -> TaskSummary:
    return TaskSummary(
        name=name, handler=t.handler, description=t.description, enabled=t.enabled,
        paused=s.paused, priority=t.priority, category=t.category, tags=list(t.tags),
        window=t.window, timezone=task_zone(t, zone), next_fire=nxt,
        last_status=s.last_status, last_run_at=s.last_run_at,
        consecutive_failures=s.consecutive_failures,
    )  # fmt: skip


def _matches(t: TaskConfig, q: TaskQuery) -> bool:
    return (
        (q.enabled is None or t.enabled == q.enabled)
        and (q.handler is None or t.handler == q.handler)
        and (q.tag is None or q.tag in t.tags)
    )


async def list_tasks(call: Call) -> web.Response:
    """Every task matching the filters, by name."""
    q = call.q(TaskQuery)
    defs = await taskdefs.load_all(call.r, call.keys)
    names = sorted(n for n, t in defs.items() if _matches(t, q))
    page = names[q.offset : q.offset + q.limit]
    states, fires = await _states(call.r, call.keys, page), await _next_fires(call.r, call.keys)
    zone = call.config.timezone
    items = [_summary(n, defs[n], s, fires.get(n), zone)
             for n, s in zip(page, states, strict=True)]  # fmt: skip
    if q.full:
        for item, state in zip(items, states, strict=True):
            detail = _detail(item["name"], defs[item["name"]], state, item["next_fire"])
            item["definition"], item["state"] = detail["definition"], detail["state"]
    return web.json_response(
        TaskPage(items=items, total=len(names), limit=q.limit, offset=q.offset)
    )


async def get_task(call: Call) -> web.Response:
    """One task's definition, state and next fire."""
    name = call.path("task")
    task = await require_task(call.r, call.keys, name)
    (state,) = await _states(call.r, call.keys, [name])
    nxt = await call.r.zscore(call.keys.schedule_next, name)
    return web.json_response(_detail(name, task, state, nxt))


def _detail(name: str, task: TaskConfig, state: ScheduleState, nxt: float | None) -> TaskDetail:
    return TaskDetail(
        name=name, definition=task.model_dump(mode="json", by_alias=True),
        state=dict(state.to_fields()) | {"paused": state.paused,
                                          "success_rate": state.success_rate()},
        next_fire=nxt,
    )  # fmt: skip


async def _checked(call: Call, name: str, task: TaskConfig) -> None:
    """Refuse a definition whose window, dependencies or schedule do not hold up."""
    stored = await taskdefs.load_all(call.r, call.keys)
    config = call.config.model_copy(update={"tasks": {**stored, name: task}})
    problems = check_task(config, name)
    if problems:
        errors = [{"field": ".".join(str(p) for p in ("definition", *path[2:])),
                   "message": message} for path, message in problems]  # fmt: skip
        raise Invalid.listing(errors, "body")


async def create_task(call: Call) -> web.Response:
    """Create a task (admin); 409 if the name is taken."""
    body = call.b(CreateTask)
    if await taskdefs.load(call.r, call.keys, body.name) is not None:
        raise Conflict(f"task {body.name!r} exists; PATCH it instead", details={"task": body.name})
    await _checked(call, body.name, body.definition)
    await taskdefs.put(call.r, call.keys, body.name, body.definition)
    state = ScheduleState()
    return web.json_response(_detail(body.name, body.definition, state, None), status=201)


async def update_task(call: Call) -> web.Response:
    """Change fields of a definition (admin); a schedule change moves the next fire."""
    name = call.path("task")
    current = await require_task(call.r, call.keys, name)
    changes = call.b(TaskPatch).model_extra or {}
    merged = {**current.model_dump(by_alias=True), **changes}
    try:
        task = TaskConfig.model_validate(merged)
    except ValidationError as exc:
        raise invalid(exc, "body") from None
    await _checked(call, name, task)
    await taskdefs.put(call.r, call.keys, name, task)
    (state,) = await _states(call.r, call.keys, [name])
    return web.json_response(_detail(name, task, state, None))


async def delete_task(call: Call) -> web.Response:
    """Delete a task (admin); 409 while another task depends on it."""
    name = call.path("task")
    await require_task(call.r, call.keys, name)
    stored = await taskdefs.load_all(call.r, call.keys)
    dependents = sorted(n for n, t in stored.items() if name in t.depends_on and n != name)
    if dependents:
        raise Conflict(f"{', '.join(dependents)} depend(s) on {name!r}",
                       details={"dependents": dependents})  # fmt: skip
    await taskdefs.delete(call.r, call.keys, name)
    return web.json_response({"task": name, "status": "deleted"})


async def _set_enabled(call: Call, enabled: bool) -> web.Response:
    name = call.path("task")
    if await taskdefs.set_enabled(call.r, call.keys, name, enabled) is None:
        raise NotFound(f"unknown task {name!r}", details={"task": name})
    return web.json_response(Accepted(task=name, status="enabled" if enabled else "disabled"))


async def enable_task(call: Call) -> web.Response:
    """Enable a task's schedule (operator)."""
    return await _set_enabled(call, True)


async def disable_task(call: Call) -> web.Response:
    """Disable a task: no scheduled or manual runs until enabled (operator)."""
    return await _set_enabled(call, False)


async def pause_task(call: Call) -> web.Response:
    """Pause a task's schedule; its slots are recorded as skipped (operator)."""
    name = call.path("task")
    await require_task(call.r, call.keys, name)
    event = TaskPaused(task=name, reason=call.b(PauseBody).reason)
    await call.r.xadd(call.keys.control, encode(event))  # type: ignore[arg-type]
    return web.json_response(Accepted(task=name, status="pause requested"), status=202)


async def resume_task(call: Call) -> web.Response:
    """Resume a paused task (operator)."""
    name = call.path("task")
    await require_task(call.r, call.keys, name)
    await call.r.xadd(call.keys.control, encode(TaskResumed(task=name)))  # type: ignore[arg-type]
    return web.json_response(Accepted(task=name, status="resume requested"), status=202)


async def task_next(call: Call) -> web.Response:
    """The next fire times (DST, calendars, windows, jitter, start/end applied)."""
    name = call.path("task")
    task = await require_task(call.r, call.keys, name)
    q = call.q(NextQuery)
    config = call.config.model_copy(update={"tasks": {name: task}})
    try:
        fires = preview_task(config, name, q.after or call.clock.now(), q.count)
    except InstantOutOfRange as exc:
        raise ParamError("after", str(exc)) from None
    except (TriggerSpecError, ValueError) as exc:
        raise BadRequest(str(exc)) from None
    return web.json_response({"task": name, "timezone": config.timezone,
                              "fires": [f.as_dict() for f in fires]})  # fmt: skip


async def task_priority(call: Call) -> web.Response:
    """The priority score with every term (impact, urgency, effort, success rate)."""
    name = call.path("task")
    task = await require_task(call.r, call.keys, name)
    (state,) = await _states(call.r, call.keys, [name])
    b = breakdown(task, state.success_rate())
    terms = [{"factor": f, "value": v, "weight": w} for f, v, w in b.terms()]
    return web.json_response({"task": name, "score": b.score, "terms": terms,
                              "weighted": b.weighted, "category": b.category,
                              "category_multiplier": b.category_multiplier,
                              "priority": b.priority,
                              "priority_adjustment": b.priority_adjustment})  # fmt: skip


_T = "/api/v1/tasks"
ROUTES = (
    Route(method="GET", path=_T, handler=list_tasks, summary="List tasks", tag="tasks",
          query=TaskQuery, response=TaskPage),
    Route(method="POST", path=_T, handler=create_task, summary="Create a task", tag="tasks",
          role="admin", body=CreateTask, status=201, response=TaskDetail, errors=(409,)),
    Route(method="GET", path=_T + "/{task}", handler=get_task, summary="One task", tag="tasks",
          response=TaskDetail),
    Route(method="PATCH", path=_T + "/{task}", handler=update_task, tag="tasks",
          summary="Change a task's definition", role="admin", body=TaskPatch,
          response=TaskDetail),
    Route(method="DELETE", path=_T + "/{task}", handler=delete_task, summary="Delete a task",
          tag="tasks", role="admin", errors=(409,)),
    Route(method="POST", path=_T + "/{task}/enable", handler=enable_task, tag="tasks",
          summary="Enable a task", role="operator", response=Accepted),
    Route(method="POST", path=_T + "/{task}/disable", handler=disable_task, tag="tasks",
          summary="Disable a task", role="operator", response=Accepted),
    Route(method="POST", path=_T + "/{task}/pause", handler=pause_task, tag="tasks",
          summary="Pause a task's schedule", role="operator", body=PauseBody, status=202,
          response=Accepted),
    Route(method="POST", path=_T + "/{task}/resume", handler=resume_task, tag="tasks",
          summary="Resume a task's schedule", role="operator", status=202, response=Accepted),
    Route(method="GET", path=_T + "/{task}/next", handler=task_next, tag="tasks",
          summary="Next fire times of a task", query=NextQuery),
    Route(method="GET", path=_T + "/{task}/priority", handler=task_priority, tag="tasks",
          summary="Priority score breakdown"),
)  # fmt: skip
