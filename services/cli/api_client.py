"""Talking to the REST API instead of Redis (``watchkeeper --api URL``).

The root group's ``--api``/``--token`` options (``WATCHKEEPER_API``/``WATCHKEEPER_TOKEN``)
are kept in the click context; :func:`api_target` tells a command which way to go.
:class:`ApiClient` is one aiohttp session with the bearer token; an error reply
(``{"error": {"code", "message", "details"}}``) becomes the CLI error with the matching
exit code, so commands never look at HTTP statuses. The token is never logged or printed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, TypeVar

import aiohttp
import click

from services.cli.exits import AuthRefused, CliError, ConfigInvalid, NotFound, Unreachable
from shared.runtime.logging import add_secrets

T = TypeVar("T")
_META: Final = "watchkeeper.api"
TIMEOUT_S: Final = 30.0


@dataclass(frozen=True, slots=True)
class ApiTarget:
    """Where the API is and the token to show it (``repr`` hides the token)."""

    url: str
    token: str | None = field(default=None, repr=False)


def _remember(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if param.name == "token" and value:
        add_secrets([value])  # masked should any log line or traceback ever carry it
    ctx.meta[f"{_META}.{param.name}"] = value
    return value


API_OPTIONS = (
    click.option("--api", metavar="URL", envvar="WATCHKEEPER_API", expose_value=False,
                 callback=_remember, help="Go through the REST API at URL instead of Redis."),
    click.option("--token", envvar="WATCHKEEPER_TOKEN", expose_value=False, callback=_remember,
                 help="Bearer token for --api (never logged)."),
)  # fmt: skip


def api_target() -> ApiTarget | None:
    """The API this invocation goes through, or None to use Redis."""
    ctx = click.get_current_context(silent=True)
    url = ctx.find_root().meta.get(f"{_META}.api") if ctx is not None else None
    if not url or ctx is None:
        return None
    return ApiTarget(url.rstrip("/"), ctx.find_root().meta.get(f"{_META}.token") or None)


# Statuses that have their own exit code; any other error is a plain failure (exit 1).
_ERRORS: Final[dict[int, type[CliError]]] = {
    400: ConfigInvalid, 422: ConfigInvalid, 401: AuthRefused, 403: AuthRefused,
    404: NotFound, 503: Unreachable,
}  # fmt: skip


def api_error(status: int, body: Any, target: ApiTarget) -> CliError:
    """The CLI error an API error reply stands for (its message, and a hint for auth)."""
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    text = str(message or f"HTTP {status}")
    if status == 401:
        hint = "set --token or WATCHKEEPER_TOKEN" if target.token is None else "token refused"
        text = f"{text} ({hint})"
    elif status == 503:
        text = f"API at {target.url} cannot serve now: {text}"
    return _ERRORS.get(status, CliError)(text)


class ApiClient:
    """One session on the API; use ``async with`` and the verb methods."""

    def __init__(self, target: ApiTarget) -> None:
        self.target = target
        headers = {"Authorization": f"Bearer {target.token}"} if target.token else {}
        self._headers = headers
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ApiClient:
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
        self._session = aiohttp.ClientSession(headers=self._headers, timeout=timeout)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None,
        json: Any = None, missing_ok: bool = False,
    ) -> Any:  # fmt: skip
        """The JSON body of a success reply; a CLI error otherwise (``missing_ok``: None
        for a 404)."""
        assert self._session is not None, "use ApiClient with async with"
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        try:
            async with self._session.request(
                method, self.target.url + path, params=query, json=json
            ) as resp:
                body = await resp.json(content_type=None) if await resp.read() else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise Unreachable(f"cannot reach the API at {self.target.url}: {exc}") from None
        if resp.status == 404 and missing_ok:
            return None
        if resp.status >= 400:
            raise api_error(resp.status, body, self.target)
        return body

    async def get(self, path: str, **params: Any) -> Any:
        """``GET path?params``."""
        return await self.request("GET", path, params=params)

    async def post(self, path: str, body: Any = None) -> Any:
        """``POST path`` with a JSON body."""
        return await self.request("POST", path, json=body if body is not None else {})


def with_api(target: ApiTarget, work: Callable[[ApiClient], Awaitable[T]]) -> T:
    """Run ``work`` with a client on ``target`` (the API twin of ``with_redis``)."""

    async def main() -> T:
        async with ApiClient(target) as api:
            return await work(api)

    return asyncio.run(main())
