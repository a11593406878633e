"""The one route table: every route with its role, query and body models, response shape.

The router and the OpenAPI document (:mod:`services.api.openapi`) are both built from
:class:`Route` entries, so they cannot drift apart. Each handler receives a
:class:`Call`: the request already authorised, its query and body parsed by pydantic
models (a bad field is a 400 naming it), and the app state at hand.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from services.api import state
from services.api.auth import Principal, Role
from services.api.errors import BadRequest, Invalid, ParamError
from shared.config.models import Config
from shared.contract.keys import Keys
from shared.runtime.clock import Clock
from shared.runtime.redis import Redis

M = TypeVar("M", bound=BaseModel)
_DIGITS = re.compile(r"[0-9]+")
MAX_BODY_BYTES = 1 << 20


class QueryModel(BaseModel):
    """Base of query-string models: frozen, unknown parameters ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class BodyModel(BaseModel):
    """Base of request-body models: frozen, unknown fields are errors (typos surface)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def whole(low: int, high: int) -> BeforeValidator:
    """Check an int query parameter is ``low..high`` in ASCII digits (``'²'`` is
    ``isdigit()`` but not a number), with a message saying the allowed range."""

    def check(value: Any) -> Any:
        if isinstance(value, str) and not (_DIGITS.fullmatch(value) and low <= int(value) <= high):
            raise ValueError(f"must be a whole number from {low} to {high}")
        return value

    return BeforeValidator(check)


Limit = Annotated[int, whole(1, 500), Field(ge=1, le=500)]
"""How many items a page holds (1..500)."""
Offset = Annotated[int, whole(0, 1_000_000), Field(ge=0, le=1_000_000)]
"""How many items to skip."""


def _instant(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"is not an ISO 8601 instant: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


Instant = Annotated[datetime, BeforeValidator(_instant)]
"""An ISO 8601 instant; without an offset it means UTC."""


_ENTRY_ID = re.compile(r"^([0-9]{1,20})-([0-9]{1,20})$")
_U64 = 1 << 64


def entry_id(raw: str, name: str, where: str = "query") -> tuple[int, int]:
    """A stream entry id ``ms-seq`` (each part below 2**64), or a 400 naming ``name``."""
    m = _ENTRY_ID.match(raw)
    if m is None or int(m[1]) >= _U64 or int(m[2]) >= _U64:
        raise ParamError(name, "is not a stream entry id (ms-seq)", where=where)
    return int(m[1]), int(m[2])


def before(cursor: str | None, name: str = "before") -> str | None:
    """The greatest entry id below ``cursor`` (``+`` without one); None when nothing can
    be below it (a page cursor pointing before the first possible id)."""
    if cursor is None:
        return "+"
    ms, seq = entry_id(cursor, name)
    if seq:
        return f"{ms}-{seq - 1}"
    return f"{ms - 1}-{_U64 - 1}" if ms else None


@dataclass(frozen=True, slots=True)
class Call:
    """One authorised request with its parsed query and body."""

    request: web.Request
    principal: Principal
    query: BaseModel | None = None
    body: BaseModel | None = None

    def q(self, model: type[M]) -> M:
        """The parsed query as ``model`` (the route declared it)."""
        assert isinstance(self.query, model)
        return self.query

    def b(self, model: type[M]) -> M:
        """The parsed body as ``model`` (the route declared it)."""
        assert isinstance(self.body, model)
        return self.body

    def path(self, name: str) -> str:
        """A path parameter."""
        return self.request.match_info[name]

    @property
    def r(self) -> Redis:
        """The Redis client."""
        return self.request.app[state.REDIS]

    @property
    def keys(self) -> Keys:
        """Key names of the namespace."""
        return self.request.app[state.KEYS]

    @property
    def config(self) -> Config:
        """The running config (calendars, windows, settings; tasks come from Redis)."""
        return self.request.app[state.CONFIG]

    @property
    def clock(self) -> Clock:
        """The injected clock."""
        return self.request.app[state.CLOCK]

    @property
    def who(self) -> str:
        """``api:<token name>``, recorded as ``requested_by``."""
        return f"api:{self.principal.name}"


Endpoint = Callable[[Call], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """One route: what it does, who may call it, what it reads and returns.

    ``role`` None means open (probes, the OpenAPI document); ``public`` makes a route
    open when the config says so (badges with ``api.public_badges``). ``response`` is a
    type (TypedDict or model) whose JSON schema documents the success body.
    """

    method: str
    path: str
    handler: Endpoint
    summary: str
    tag: str
    role: Role | None = "viewer"
    query: type[QueryModel] | None = None
    body: type[BodyModel] | None = None
    status: int = 200
    response: Any = None
    content_type: str = "application/json"
    public: Callable[[Config], bool] | None = None
    errors: tuple[int, ...] = field(default=())

    @property
    def operation_id(self) -> str:
        """The handler's name (unique in the table)."""
        return self.handler.__name__


def register(app: web.Application, routes: Sequence[Route]) -> None:
    """Add every route to the app's router."""
    for route in routes:
        app.router.add_route(route.method, route.path, _endpoint(route), name=route.operation_id)


def _endpoint(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def endpoint(request: web.Request) -> web.StreamResponse:
        principal = _authorise(request, route)
        query = parse_model(route.query, dict(request.query), "query") if route.query else None
        body = parse_model(route.body, await _json(request), "body") if route.body else None
        return await route.handler(Call(request, principal, query, body))

    endpoint.__name__ = route.operation_id
    return endpoint


def _authorise(request: web.Request, route: Route) -> Principal:
    config = request.app[state.CONFIG]
    if route.role is None or (route.public is not None and route.public(config)):
        return Principal("anonymous", "viewer")
    return request.app[state.AUTH].require(request.headers.get("Authorization"), route.role)


async def _json(request: web.Request) -> Any:
    if request.content_length and request.content_length > MAX_BODY_BYTES:
        raise BadRequest(f"the body is larger than {MAX_BODY_BYTES} bytes")
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the body is not valid JSON") from None


def parse_model(model: type[M], data: Any, where: str) -> M:
    """Validate ``data`` with ``model``; a 400 naming every bad field otherwise."""
    if where == "body" and not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(exc, where) from None


def invalid(exc: ValidationError, where: str, prefix: str = "") -> Invalid:
    """A 400 whose message names the first bad field and whose details list them all."""
    problems = [
        {"field": prefix + ".".join(str(p) for p in e["loc"]), "message": _message(e)}
        for e in exc.errors()
    ]
    return Invalid.listing(problems, where)


def _message(error: Any) -> str:
    if error["type"] == "value_error":
        return str(error["ctx"]["error"])
    if error["type"] == "missing":
        return "is required"
    return f"is invalid: {error['msg']}"
