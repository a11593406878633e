"""Probes and the API's own description: ``/healthz``, ``/readyz``, the OpenAPI document."""

from __future__ import annotations

from aiohttp import web

from services.api.metrics import metrics_endpoint
from services.api.readiness import readiness
from services.api.routing import Call, Route


async def healthz(_call: Call) -> web.Response:
    """The process is up (no dependency checked)."""
    return web.json_response({"status": "ok"})


async def readyz(call: Call) -> web.Response:
    """200 when the deployment can answer a trigger, else 503 saying what is missing
    (see :mod:`services.api.readiness`); Redis down is 503 via the error middleware."""
    report = await readiness(call.r, call.keys, call.config)
    return web.json_response(report, status=200 if report["status"] == "ready" else 503)


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
    Route(method="GET", path="/metrics", handler=prometheus, summary="Prometheus metrics",
          tag="health", role=None, content_type="text/plain", response=str),
    Route(method="GET", path="/api/v1/openapi.json", handler=openapi, tag="health",
          summary="This OpenAPI document", role=None),
)  # fmt: skip
