"""What is happening: runs in progress, and each task's recent results (for trends).

The dashboard loads both once and then follows the live feed (``/api/v1/events``).
"""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import Field

from services.api.routing import Call, QueryModel, Route, whole
from shared.config import taskdefs
from shared.contract.codec import EventDecodeError, decode
from shared.contract.events import TaskResult
from shared.contract.running import running


class TrendsQuery(QueryModel):
    """How many recent results per task."""

    per_task: Annotated[int, whole(1, 100), Field(ge=1, le=100)] = 20


async def running_runs(call: Call) -> web.Response:
    """Runs an executor holds now, with their handlers' latest progress."""
    names = sorted(await taskdefs.load_all(call.r, call.keys))
    runs = await running(call.r, call.keys, names)
    return web.json_response({"items": [run.as_dict() for run in runs]})


async def trends(call: Call) -> web.Response:
    """Each task's last ``per_task`` results, oldest first: status, duration, finish time."""
    count = call.q(TrendsQuery).per_task
    names = sorted(await taskdefs.load_all(call.r, call.keys))
    async with call.r.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.xrevrange(call.keys.task_history(name), count=count)
        replies = await pipe.execute()
    series = {name: _points(entries) for name, entries in zip(names, replies, strict=True)}
    return web.json_response({"per_task": count, "tasks": series})


def _points(entries: Any) -> list[dict[str, Any]]:
    points = []
    for _, fields in reversed(entries):
        try:
            event = decode(fields)
        except EventDecodeError:
            continue
        if isinstance(event, TaskResult):
            points.append({"run_id": event.run_id, "status": event.status,
                           "duration_s": event.duration_s,
                           "finished_at": event.finished_at})  # fmt: skip
    return points


ROUTES = (
    Route(method="GET", path="/api/v1/runs/running", handler=running_runs, tag="runs",
          summary="Runs in progress with their latest progress"),
    Route(method="GET", path="/api/v1/runs/trends", handler=trends, tag="runs",
          summary="Each task's recent results (status, duration), oldest first",
          query=TrendsQuery),
)  # fmt: skip
