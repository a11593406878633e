"""The aiohttp application: state, middleware, the route table, the SSE reader."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from aiohttp import web

from services.api import metrics, state
from services.api.auth import Auth
from services.api.errors import error_middleware
from services.api.openapi import document
from services.api.routes import ROUTES
from services.api.routes.events import end_streams, hub_ctx
from services.api.routes.health import OPENAPI
from services.api.routing import register
from shared.config.models import Config
from shared.contract.keys import Keys
from shared.runtime.clock import Clock, SystemClock
from shared.runtime.redis import Redis


def _version() -> str:
    try:
        return version("watchkeeper")
    except PackageNotFoundError:
        return "0"


def create_app(r: Redis, config: Config, clock: Clock | None = None) -> web.Application:
    """Build the application around an open Redis client (and the clock it reads)."""
    app = web.Application(middlewares=[error_middleware])
    app[state.REDIS] = r
    app[state.CLOCK] = clock or SystemClock()
    app[state.KEYS] = Keys(config.namespace)
    app[state.CONFIG] = config
    app[state.AUTH] = Auth.from_settings(config.api)
    app[OPENAPI] = document(ROUTES, version=_version())
    register(app, ROUTES)
    app.cleanup_ctx.append(hub_ctx)
    app.on_shutdown.append(end_streams)
    metrics.install(app, r, app[state.KEYS], app[state.CLOCK])
    return app


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Start serving ``app``; the caller cleans up the returned runner."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
