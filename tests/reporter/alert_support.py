"""Alert tests' helpers: a real HTTP receiver on loopback and alert configs that allow it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from shared.config.models import Config
from shared.contract.codec import decode
from shared.contract.keys import Keys
from shared.runtime.redis import Redis

LOOPBACK = ["127.0.0.1", "::1", "localhost"]
"""What the tests' receivers listen on: allow-listed explicitly, never by default."""


@dataclass
class Request:
    """One request the receiver got: when (monotonic), its headers and body."""

    at: float
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records requests and answers from a script
    (``(status, headers)`` per request, then 200). ``hold`` delays answering until set."""

    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    hold: asyncio.Event | None = None
    requests: list[Request] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    url: str = ""
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        async with self._arrived:
            self.requests.append(Request(time.monotonic(), dict(request.headers), body))
            self._arrived.notify_all()
        if self.hold is not None:
            await self.hold.wait()
        status, headers = self.answers.pop(0) if self.answers else (200, {})
        return web.Response(status=status, headers=headers, text="ok" if status < 300 else "no")

    async def start(self) -> str:
        """Listen on a free loopback port; returns the URL to POST to."""
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self.url

    async def stop(self) -> None:
        """Close the server."""
        if self.hold is not None:
            self.hold.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for(self, count: int, timeout_s: float = 10.0) -> list[Request]:
        """Wait (bounded) until ``count`` requests arrived."""
        async with asyncio.timeout(timeout_s), self._arrived:
            await self._arrived.wait_for(lambda: len(self.requests) >= count)
        return self.requests


def alert_config(keys: Keys, channels: list[dict[str, Any]], **alerts: Any) -> Config:
    """A config for ``keys`` with ``channels``, fast retries, loopback allowed."""
    settings: dict[str, Any] = {
        "channels": channels, "allow_private_targets": LOOPBACK,
        "delivery": {"first_backoff": 0.05, "max_backoff": 0.2, "max_attempts": 5},
    }  # fmt: skip
    settings.update(alerts)
    return Config(namespace=keys.ns, alerts=settings)  # type: ignore[arg-type]


async def stream_events(r: Redis, keys: Keys) -> list[Any]:
    """Every event on the alerts stream, oldest first."""
    return [decode(fields) for _, fields in await r.xrange(keys.alerts_stream)]


async def until(check: Callable[[], Awaitable[Any]], timeout_s: float = 10.0) -> Any:
    """Await ``check`` repeatedly until truthy (bounded)."""
    async with asyncio.timeout(timeout_s):
        # Polling: Redis state has no event to await here.
        while not (value := await check()):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        return value
