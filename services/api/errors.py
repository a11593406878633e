"""Domain errors → JSON responses; Redis down → 503 with Retry-After."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from shared.runtime.logging import get_logger
from shared.runtime.redis import RedisUnavailable

log = get_logger("watchkeeper.api")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class NotFound(Exception):
    """The named thing does not exist (404)."""


class BadRequest(Exception):
    """The request is malformed; the message says what is wrong (400)."""


class ParamError(BadRequest):
    """A request parameter is invalid (400); the body names it in ``error.param``."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"query parameter {name!r} {problem}")
        self.name = name


def error_json(
    status: int, message: str, *, param: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON error body ``{"error": {"status", "message", "param"?}}``."""
    error: dict[str, object] = {"status": status, "message": message}
    if param is not None:
        error["param"] = param
    return web.json_response({"error": error}, status=status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map exceptions to JSON errors; never leak a traceback to the client."""
    try:
        return await handler(request)
    except NotFound as exc:
        return error_json(404, str(exc))
    except ParamError as exc:
        return error_json(400, str(exc), param=exc.name)
    except BadRequest as exc:
        return error_json(400, str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_json(exc.status, exc.reason)
    except RedisUnavailable as exc:
        log.warning("api.redis_unavailable", path=request.path, error=str(exc))
        return error_json(
            503, "Redis is unavailable; try again shortly", headers={"Retry-After": "2"}
        )
    except Exception:
        log.exception("api.unhandled", path=request.path)
        return error_json(500, "internal error (see the API log)")
