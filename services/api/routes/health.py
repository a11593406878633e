"""Probes, the deployment's status and the API's own description: ``/healthz``,
``/readyz``, ``/api/v1/status``, the OpenAPI document."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from typing_extensions import TypedDict

from services.api.metrics import metrics_endpoint
from services.api.readiness import readiness
from services.api.routing import Call, Route
from shared.runtime.health import read_health


class Status(TypedDict):
    """What ``watchkeeper status`` shows (the same reader builds both)."""

    namespace: str
    scheduler: dict[str, Any]
    executors: list[dict[str, Any]]
    tasks: dict[str, int]
    queues: dict[str, dict[str, int]]
    retries_pending: int
    alerts_active: int
    redis: dict[str, Any]
    warnings: list[str]


async def healthz(_call: Call) -> web.Response:
    """The process is up (no dependency checked)."""
    return web.json_response({"status": "ok"})


async def readyz(call: Call) -> web.Response:
    """200 when the deployment can answer a trigger, else 503 saying what is missing
    (see :mod:`services.api.readiness`); Redis down is 503 via the error middleware."""
    report = await readiness(call.r, call.keys, call.config)
    return web.json_response(report, status=200 if report["status"] == "ready" else 503)


async def status(call: Call) -> web.Response:
    """Scheduler leader, executors alive, due and queued runs, retries, active alerts, how
    Redis keeps its data, and the warnings they call for."""
    health = await read_health(call.r, call.keys, call.clock.time())
    return web.json_response(health.as_dict())


async def prometheus(call: Call) -> web.Response:
    """The Prometheus text exposition (see :mod:`services.api.metrics`)."""
    return await metrics_endpoint(call.request)


async def openapi(call: Call) -> web.Response:
    """This API's OpenAPI 3.1 document, generated from the route table."""
    return web.json_response(call.request.app[OPENAPI])


OPENAPI: web.AppKey[dict[str, object]] = web.AppKey("openapi", dict)
ROUTES = (
    Route(method="GET", path="/healthz", handler=healthz, summary="Liveness", tag="health",
          role=None),
    Route(method="GET", path="/readyz", handler=readyz, summary="Readiness", tag="health",
          role=None),
    Route(method="GET", path="/api/v1/status", handler=status, tag="health",
          summary="Deployment status (as `watchkeeper status`)", response=Status),
    Route(method="GET", path="/metrics", handler=prometheus, summary="Prometheus metrics",
          tag="health", role=None, content_type="text/plain", response=str),
    Route(method="GET", path="/api/v1/openapi.json", handler=openapi, tag="health",
          summary="This OpenAPI document", role=None),
)  # fmt: skip
