"""Runs: run now, run all, emergency, history, one run (with progress while it runs).

A run request is a ``trigger.run``/``trigger.emergency`` on the triggers stream; the
scheduler names the run ``<task>:m<entry id>`` (``e`` for an emergency), so the answer
carries the run id to poll at ``GET /runs/{run_id}``. A refused request (disabled,
outside its window, a param it may not set) is a decision in ``/tasks/{task}/decisions``.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from pydantic import Field, field_validator
from typing_extensions import TypedDict

from services.api.errors import Conflict, NotFound, ParamError
from services.api.routes.tasks import require_task
from services.api.routing import BodyModel, Call, Instant, Limit, QueryModel, Route, before
from shared.config import taskdefs
from shared.config.catalog import Catalog
from shared.config.models import TaskConfig
from shared.contract.cancel import request_cancel
from shared.contract.codec import EventDecodeError, decode, encode, event_body
from shared.contract.events import (
    RESULT_STATUSES,
    TaskResult,
    TriggerEmergency,
    TriggerRun,
    trigger_slot,
)
from shared.contract.readmodel import ResultRecord, RunProgress
from shared.contract.streams import trigger_stream
from shared.runtime.redis import text, xadd_once

SCAN_BATCH = 200
SCAN_LIMIT = 5_000
"""Most history entries one page request reads when a status filter skips many."""


class RunRequested(TypedDict):
    """A run request on the triggers stream; poll ``GET /runs/{run_id}`` for its result."""

    task: str
    run_id: str
    correlation_id: str
    status: str


class RunAllRequested(TypedDict):
    """Every run requested by run-all."""

    requested: list[RunRequested]


class RunBody(BodyModel):
    """Run ``task`` now."""

    task: str = Field(min_length=1, max_length=200)
    params: dict[str, Any] = Field(default_factory=dict)
    force: bool = False
    """Run even when disabled or outside its window."""
    dry_run: bool = False
    """Check the request and show what would be sent; send nothing."""
    reason: str | None = Field(None, max_length=500)


class RunAllBody(BodyModel):
    """Run every enabled task (optionally only those with ``tag``)."""

    tag: str | None = None
    force: bool = False
    reason: str | None = Field(None, max_length=500)


class EmergencyBody(BodyModel):
    """An emergency run: critical stream, bypasses windows and cooldown."""

    task: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=500)
    params: dict[str, Any] = Field(default_factory=dict)


class CancelRequested(TypedDict):
    """A stored cancel request; the run's ``cancelled`` result follows within seconds."""

    run_id: str
    status: str


class CancelBody(BodyModel):
    """Why the run is cancelled (recorded in its result's message)."""

    reason: str | None = Field(None, max_length=500)


class HistoryQuery(QueryModel):
    """Filters and cursor of the history (newest first)."""

    task: str | None = None
    status: str | None = Field(None, json_schema_extra={"enum": list(RESULT_STATUSES)})
    since: Instant | None = None
    before: str | None = Field(None, description="The `next` cursor of the previous page.")
    limit: Limit = 50

    @field_validator("status")
    @classmethod
    def _known_status(cls, value: str | None) -> str | None:
        if value is not None and value not in RESULT_STATUSES:
            raise ValueError(f"must be one of {', '.join(RESULT_STATUSES)}")
        return value


def _check_params(task_name: str, task: TaskConfig, params: dict[str, Any]) -> None:
    refusal = task.params_refusal(params) if params else None
    if refusal is not None:
        raise ParamError("params", f"of task {task_name!r}: {refusal}", where="body")


async def _publish(call: Call, event: TriggerRun | TriggerEmergency) -> RunRequested:
    entry_id = await xadd_once(call.r, trigger_stream(call.keys, event), encode(event))
    slot = trigger_slot(entry_id, emergency=isinstance(event, TriggerEmergency))
    return RunRequested(task=event.task, run_id=f"{event.task}:{slot}",
                        correlation_id=event.correlation_id or "", status="requested")  # fmt: skip


async def run_now(call: Call) -> web.Response:
    """Run a task now with ``params`` (operator); ``dry_run`` sends nothing."""
    body = call.b(RunBody)
    task = await require_task(call.r, call.keys, body.task)
    _check_params(body.task, task, body.params)
    if body.dry_run:
        return web.json_response(_dry_run(call, body, task))
    event = TriggerRun(task=body.task, params=body.params, force=body.force,
                       reason=body.reason or "requested through the API", requested_by=call.who,
                       correlation_id=uuid.uuid4().hex)  # fmt: skip
    return web.json_response(await _publish(call, event), status=202)


def _dry_run(call: Call, body: RunBody, task: TaskConfig) -> dict[str, Any]:
    """What the scheduler would do with this request now (nothing is sent)."""
    blocked = None
    if not body.force:
        window = Catalog.from_config(call.config).windows.get(task.window or "")
        closed = window.closed_reason(call.clock.now()) if window is not None else None
        blocked = "task is disabled" if not task.enabled else closed
    return {"task": body.task, "dry_run": True,
            "outcome": "would be refused" if blocked else "would run", "reason": blocked,
            "handler": task.handler, "params": {**task.params, **body.params},
            "priority": task.priority, "timeout_s": task.timeout}  # fmt: skip


async def run_all(call: Call) -> web.Response:
    """Request a run of every enabled task (operator)."""
    body = call.b(RunAllBody)
    defs = await taskdefs.load_all(call.r, call.keys)
    chosen = sorted(n for n, t in defs.items()
                    if t.enabled and (body.tag is None or body.tag in t.tags))  # fmt: skip
    requested = [
        await _publish(call, TriggerRun(
            task=name, force=body.force, reason=body.reason or "run-all through the API",
            requested_by=call.who, correlation_id=uuid.uuid4().hex))
        for name in chosen
    ]  # fmt: skip
    return web.json_response(RunAllRequested(requested=requested), status=202)


async def emergency(call: Call) -> web.Response:
    """An emergency run (operator): 409 unless the task allows them (``emergency: true``)."""
    body = call.b(EmergencyBody)
    task = await require_task(call.r, call.keys, body.task)
    if not task.emergency:
        raise Conflict(f"task {body.task!r} does not allow emergency runs (emergency: false)")
    _check_params(body.task, task, body.params)
    event = TriggerEmergency(task=body.task, params=body.params, reason=body.reason,
                             requested_by=call.who, correlation_id=uuid.uuid4().hex)  # fmt: skip
    return web.json_response(await _publish(call, event), status=202)


async def list_runs(call: Call) -> web.Response:
    """Results, newest first, from the capped history streams; ``next`` pages on."""
    q = call.q(HistoryQuery)
    high = before(q.before)
    stream = call.keys.task_history(q.task) if q.task else call.keys.history
    low = f"{int(q.since.timestamp() * 1000)}-0" if q.since and q.since.year >= 1970 else "-"
    items, cursor = await _scan(call, stream, q, low, high) if high else ([], None)
    return web.json_response({"items": items, "next": cursor})


async def _scan(
    call: Call, stream: str, q: HistoryQuery, low: str, high: str
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first from ``high`` down to ``low``, skipping entries the filter rejects
    (at most :data:`SCAN_LIMIT` read); the cursor is the last entry read."""
    items: list[dict[str, Any]] = []
    last: str | None = None
    for _ in range(SCAN_LIMIT // SCAN_BATCH):
        batch: Any = await call.r.xrevrange(stream, max=high, min=low, count=SCAN_BATCH)
        for raw_id, fields in batch:
            last = text(raw_id)
            item = _history_item(last, fields, q.status)
            if item is not None:
                items.append(item)
            if len(items) == q.limit:
                return items, last
        below = before(last) if last is not None else None
        if len(batch) < SCAN_BATCH or below is None:
            return items, None
        high = below
    return items, last


def _history_item(entry_id: str, fields: Any, status: str | None) -> dict[str, Any] | None:
    try:
        event = decode(fields)
    except EventDecodeError:
        return None
    if not isinstance(event, TaskResult) or (status is not None and event.status != status):
        return None
    return {"id": entry_id, **event_body(event)}


async def get_run(call: Call) -> web.Response:
    """The latest result of a run, or its progress while it runs."""
    run_id = call.path("run_id")
    raw = await call.r.hgetall(call.keys.result(run_id))
    if raw:
        return web.json_response(ResultRecord.from_fields(raw).body())
    progress = await call.r.hgetall(call.keys.run_progress(run_id))
    if progress:
        p = RunProgress.from_fields(progress)
        return web.json_response({"run_id": run_id, "status": "running", "executor": p.executor,
                                  "progress": p.as_dict()})  # fmt: skip
    raise NotFound(f"no result for run {run_id!r} (unknown, not started, or expired)")


async def cancel_run(call: Call) -> web.Response:
    """Ask the executor holding an unfinished run to cancel it (operator): 409 when the
    run already finished, 404 when no such run is known."""
    body = call.b(CancelBody)
    run_id = call.path("run_id")
    who = call.who if body.reason is None else f"{call.who} ({body.reason})"
    answer = await request_cancel(call.r, call.keys, run_id, who)
    if answer.verdict == "finished":
        raise Conflict(answer.message())
    if answer.verdict == "unknown":
        raise NotFound(answer.message())
    return web.json_response(CancelRequested(run_id=run_id, status="cancel_requested"),
                             status=202)  # fmt: skip


_R = "/api/v1/runs"
ROUTES = (
    Route(method="POST", path=_R, handler=run_now, summary="Run a task now", tag="runs",
          role="operator", body=RunBody, status=202, response=RunRequested),
    Route(method="POST", path=_R + "/all", handler=run_all, summary="Run every enabled task",
          tag="runs", role="operator", body=RunAllBody, status=202, response=RunAllRequested),
    Route(method="POST", path=_R + "/emergency", handler=emergency, tag="runs",
          summary="Emergency run (critical stream, bypasses windows)", role="operator",
          body=EmergencyBody, status=202, response=RunRequested, errors=(409,)),
    Route(method="GET", path=_R, handler=list_runs, summary="Run history (newest first)",
          tag="runs", query=HistoryQuery),
    Route(method="GET", path=_R + "/{run_id}", handler=get_run, tag="runs",
          summary="One run: its result, or its progress while it runs"),
    Route(method="POST", path=_R + "/{run_id}/cancel", handler=cancel_run, tag="runs",
          summary="Cancel an unfinished run", role="operator", body=CancelBody, status=202,
          response=CancelRequested, errors=(404, 409)),
)  # fmt: skip
