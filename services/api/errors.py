"""One error shape for every failure: ``{"error": {"code", "message", "details"}}``.

Handlers raise :class:`ApiError` subclasses; :func:`error_middleware` turns them (and
aiohttp's own 404/405s) into that JSON. Redis unavailable is a 503 with ``Retry-After``;
anything unexpected is logged and answered 500 without a traceback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, Final

from aiohttp import web

from shared.runtime.logging import get_logger
from shared.runtime.redis import MaybeWritten, RedisUnavailable

log = get_logger("watchkeeper.api")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RETRY_AFTER_S: Final = 2
_HTTP_CODES: Final = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}


class ApiError(Exception):
    """A request the API answers with a 4xx; ``code`` is stable for scripts to match."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, *, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})


class BadRequest(ApiError):
    """The request is malformed; the message says what is wrong (400)."""


class Invalid(BadRequest):
    """Request fields are invalid (400); ``details.field`` names the first, ``details.errors``
    lists every one."""

    code: ClassVar[str] = "invalid_field"

    @classmethod
    def listing(cls, errors: list[dict[str, Any]], where: str, headline: str = "") -> Invalid:
        """From ``[{"field", "message", …}]``; the message names the first field."""
        first = errors[0]
        label = "query parameter" if where == "query" else "field"
        message = headline or f"{label} {first['field']!r} {first['message']}"
        return cls(message, details={"field": first["field"], "in": where, "errors": errors})


class ParamError(Invalid):
    """One named request field is invalid (400)."""

    def __init__(self, name: str, problem: str, *, where: str = "query") -> None:
        label = "query parameter" if where == "query" else "field"
        super().__init__(f"{label} {name!r} {problem}", details={"field": name, "in": where})
        self.name = name


class Unauthorized(ApiError):
    """No (or an unknown) bearer token (401)."""

    status: ClassVar[int] = 401
    code: ClassVar[str] = "unauthorized"


class Forbidden(ApiError):
    """The token's role is too weak for this route (403)."""

    status: ClassVar[int] = 403
    code: ClassVar[str] = "forbidden"


class NotFound(ApiError):
    """The named thing does not exist (404)."""

    status: ClassVar[int] = 404
    code: ClassVar[str] = "not_found"


class Conflict(ApiError):
    """The request contradicts the current state (409): the task exists, the point is
    tampered with, the task allows no emergency runs…"""

    status: ClassVar[int] = 409
    code: ClassVar[str] = "conflict"


def error_json(
    status: int,
    code: str,
    message: str,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """The JSON error response every failure uses."""
    body = {"error": {"code": code, "message": message, "details": dict(details or {})}}
    return web.json_response(body, status=status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map exceptions to JSON errors; never leak a traceback to the client."""
    try:
        return await handler(request)
    except ApiError as exc:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_json(exc.status, exc.code, exc.message, exc.details, headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        return error_json(exc.status, code, exc.reason, headers=_allow(exc))
    except MaybeWritten as exc:
        log.warning("api.redis_lost_reply", path=request.path, error=str(exc))
        return error_json(503, "maybe_written",
                          "Redis went away after the request was sent: it may or may not "
                          "have been recorded; look for it (GET /api/v1/runs) before sending "
                          "it again", headers={"Retry-After": str(RETRY_AFTER_S)})  # fmt: skip
    except RedisUnavailable as exc:
        log.warning("api.redis_unavailable", path=request.path, error=str(exc))
        return error_json(503, "redis_unavailable", "Redis is unavailable; try again shortly",
                          headers={"Retry-After": str(RETRY_AFTER_S)})  # fmt: skip
    except Exception:
        log.exception("api.unhandled", path=request.path)
        return error_json(500, "internal", "internal error (see the API log)")


def _allow(exc: web.HTTPException) -> dict[str, str] | None:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else None
