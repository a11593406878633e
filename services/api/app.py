"""The aiohttp application: health probes and ``/api/v1``."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from services.api import metrics
from services.api.errors import BadRequest, NotFound, ParamError, error_middleware
from services.api.readiness import readiness
from shared.config import taskdefs
from shared.config.catalog import preview_task
from shared.config.models import Config
from shared.contract.keys import Keys
from shared.contract.readmodel import ResultRecord, RunProgress
from shared.runtime.clock import Clock, SystemClock
from shared.runtime.redis import Redis
from shared.timing.schedules import InstantOutOfRange

REDIS: web.AppKey[Redis] = web.AppKey("redis", Redis)
KEYS: web.AppKey[Keys] = web.AppKey("keys", Keys)
CONFIG: web.AppKey[Config] = web.AppKey("config", Config)
CLOCK: web.AppKey[Clock] = web.AppKey("clock", Clock)
_DIGITS = re.compile(r"[0-9]+")


async def healthz(_request: web.Request) -> web.Response:
    """The process is up (no dependency checked)."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """200 when the deployment can answer a trigger, else 503 saying what is missing
    (see :mod:`services.api.readiness`); Redis down is 503 via the error middleware."""
    report = await readiness(request.app[REDIS], request.app[KEYS], request.app[CONFIG])
    return web.json_response(report, status=200 if report["status"] == "ready" else 503)


def result_view(raw: dict[Any, Any]) -> dict[str, Any]:
    """A stored result hash as the JSON the API returns (the full task.result body)."""
    return ResultRecord.from_fields(raw).body()


def progress_view(run_id: str, raw: dict[Any, Any]) -> dict[str, Any]:
    """A running run's progress hash as JSON (numbers as numbers, blanks as null)."""
    progress = RunProgress.from_fields(raw)
    return {"run_id": run_id, "status": "running", "executor": progress.executor,
            "progress": progress.as_dict()}  # fmt: skip


async def get_run(request: web.Request) -> web.Response:
    """``GET /api/v1/runs/{run_id}``: the latest result, or the progress while it runs."""
    run_id = request.match_info["run_id"]
    r, keys = request.app[REDIS], request.app[KEYS]
    raw = await r.hgetall(keys.result(run_id))
    if raw:
        return web.json_response(result_view(raw))
    progress = await r.hgetall(keys.run_progress(run_id))
    if progress:
        return web.json_response(progress_view(run_id, progress))
    raise NotFound(f"no result for run {run_id!r} (unknown, not started, or expired)")


async def task_next(request: web.Request) -> web.Response:
    """``GET /api/v1/tasks/{task}/next?count=N&after=ISO``: upcoming fire times.

    The same preview as ``watchkeeper preview --task`` (DST rules, calendars, windows,
    jitter, start/end), computed from the definition stored in Redis.
    """
    name = request.match_info["task"]
    r, keys, config = request.app[REDIS], request.app[KEYS], request.app[CONFIG]
    task = await taskdefs.load(r, keys, name)
    if task is None:
        raise NotFound(f"unknown task {name!r}")
    count = _int_query(request, "count", default=10, low=1, high=500)
    after = _instant_query(request, "after")
    config = config.model_copy(update={"tasks": {name: task}})
    try:
        fires = preview_task(config, name, after, count)
    except InstantOutOfRange as exc:
        raise ParamError("after", str(exc)) from None
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return web.json_response({"task": name, "timezone": config.timezone,
                              "fires": [f.as_dict() for f in fires]})  # fmt: skip


def _int_query(request: web.Request, name: str, *, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    # ASCII digits only: str.isdigit() also accepts '²', which int() then rejects.
    if not _DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        raise ParamError(name, f"must be a whole number from {low} to {high}")
    return int(raw)


def _instant_query(request: web.Request, name: str) -> datetime:
    raw = request.query.get(name)
    if raw is None:
        return request.app[CLOCK].now()
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ParamError(name, f"is not an ISO 8601 instant: {raw!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def create_app(r: Redis, config: Config, clock: Clock | None = None) -> web.Application:
    """Build the application around an open Redis client (and the clock it reads)."""
    app = web.Application(middlewares=[error_middleware])
    app[REDIS] = r
    app[CLOCK] = clock or SystemClock()
    app[KEYS] = Keys(config.namespace)
    app[CONFIG] = config
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/api/v1/runs/{run_id}", get_run)
    app.router.add_get("/api/v1/tasks/{task}/next", task_next)
    metrics.install(app, r, app[KEYS], app[CLOCK])
    return app


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Start serving ``app``; the caller cleans up the returned runner."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
