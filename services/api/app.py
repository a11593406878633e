"""The aiohttp application: health probes and ``/api/v1``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.api.errors import NotFound, error_middleware
from shared.codec import unpack
from shared.config import Config
from shared.keys import Keys
from shared.redis import Redis, text

REDIS: web.AppKey[Redis] = web.AppKey("redis", Redis)
KEYS: web.AppKey[Keys] = web.AppKey("keys", Keys)
CONFIG: web.AppKey[Config] = web.AppKey("config", Config)


async def healthz(_request: web.Request) -> web.Response:
    """The process is up (no dependency checked)."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when Redis answers; 503 otherwise (via the error middleware)."""
    await request.app[REDIS].ping()
    return web.json_response({"status": "ready"})


def result_view(raw: dict[Any, Any]) -> dict[str, Any]:
    """A stored result hash as the JSON the API returns (the full task.result body)."""
    body: dict[str, Any] = unpack(raw[b"event"])
    return body


def progress_view(run_id: str, raw: dict[Any, Any]) -> dict[str, Any]:
    """A running run's progress hash as JSON (numbers as numbers, blanks as null)."""
    fields = {text(k): text(v) for k, v in raw.items()}

    def number(name: str) -> float | None:
        return float(fields[name]) if fields.get(name) else None

    return {
        "run_id": run_id, "status": "running", "executor": fields.get("executor"),
        "progress": {
            "done": number("done"), "total": number("total"), "percent": number("percent"),
            "note": fields.get("note", ""), "updated_at": number("updated_at"),
        },
    }  # fmt: skip


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


def create_app(r: Redis, config: Config) -> web.Application:
    """Build the application around an open Redis client."""
    app = web.Application(middlewares=[error_middleware])
    app[REDIS] = r
    app[KEYS] = Keys(config.namespace)
    app[CONFIG] = config
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/api/v1/runs/{run_id}", get_run)
    return app


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Start serving ``app``; the caller cleans up the returned runner."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
