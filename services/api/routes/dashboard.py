"""The web dashboard: the page at ``/``, its assets under ``/static/``, and ``whoami``.

The page and its scripts ship as package data (``services/api/static/``); no CDN. The
page is served with ``api.base_url`` written into it, so behind a reverse proxy that
serves the API under a path prefix every link and request the page makes carries it.
"""

from __future__ import annotations

import html
from functools import cache
from importlib.resources import files
from typing import Final

from aiohttp import web
from typing_extensions import TypedDict

from services.api.errors import NotFound
from services.api.routing import Call, Route

STATIC = files("services.api") / "static"
TYPES: Final = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
CACHE: Final = {"Cache-Control": "no-cache"}
"""Revalidate every time: an upgraded API never serves a stale script."""


class WhoAmI(TypedDict):
    """The caller: its token's name and role (``local``/admin on an open API)."""

    name: str
    role: str


@cache
def _asset(name: str) -> bytes | None:
    if name.startswith(".") or "/" in name or "\\" in name:
        return None
    path = STATIC / name
    return path.read_bytes() if path.is_file() else None


async def page(call: Call) -> web.Response:
    """The dashboard (HTML)."""
    raw = _asset("index.html")
    assert raw is not None, "services/api/static/index.html ships with the package"
    api = call.config.api
    body = (raw.decode()
            .replace("{{base}}", html.escape(api.base_url))
            .replace("{{timezone}}", html.escape(call.config.timezone)))  # fmt: skip
    return web.Response(text=body, content_type="text/html", headers=CACHE)


async def asset(call: Call) -> web.Response:
    """One of the dashboard's scripts or stylesheets."""
    name = call.path("name")
    suffix = name[name.rfind(".") :] if "." in name else ""
    raw = _asset(name) if suffix in TYPES else None
    if raw is None:
        raise NotFound(f"no dashboard asset {name!r}", details={"name": name})
    return web.Response(body=raw, content_type=TYPES[suffix], headers=CACHE)


async def whoami(call: Call) -> web.Response:
    """Who the bearer token is and its role (the dashboard enables its buttons by it)."""
    return web.json_response(WhoAmI(name=call.principal.name, role=call.principal.role))


ROUTES = (
    Route(method="GET", path="/", handler=page, summary="The web dashboard", tag="dashboard",
          role=None, content_type="text/html", response=str),
    Route(method="GET", path="/static/{name}", handler=asset, tag="dashboard",
          summary="A dashboard script or stylesheet", role=None, content_type="text/plain",
          response=str),
    Route(method="GET", path="/api/v1/whoami", handler=whoami, tag="dashboard",
          summary="The caller's token name and role", response=WhoAmI),
)  # fmt: skip
