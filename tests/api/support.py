"""An API under test on a real aiohttp server and real Redis, and a small client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from services.api.app import create_app, serve
from shared.config import taskdefs
from shared.config.loader import load_text
from shared.config.models import Config
from shared.contract.keys import Keys
from shared.runtime.clock import Clock, FakeClock
from shared.runtime.embedded import free_port
from shared.runtime.redis import Redis

TOKENS = {"viewer": "v-token", "operator": "o-token", "admin": "a-token"}
TOKENS_YAML = "api:\n  tokens:\n" + "".join(
    f"    {role}: {{token: {tok}, role: {role}}}\n" for role, tok in TOKENS.items()
)
"""The ``api:`` section giving one token per role (each named after its role)."""


@dataclass
class Api:
    """A running API: its base URL, config and clock."""

    url: str
    config: Config
    clock: Clock

    async def call(
        self, method: str, path: str, *, role: str | None = "admin", token: str | None = None,
        json: Any = None, data: str | None = None,
    ) -> tuple[int, Any, dict[str, str]]:  # fmt: skip
        """``(status, body, headers)``; the body is JSON when the response says so."""
        headers = {}
        if token is not None or role is not None:
            headers["Authorization"] = f"Bearer {token or TOKENS[role or 'admin']}"
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method, self.url + path, headers=headers, json=json, data=data
            ) as resp,  # fmt: skip
        ):
            ctype = resp.headers.get("Content-Type", "")
            body = await resp.json() if ctype.startswith("application/json") else await resp.text()
            return resp.status, body, dict(resp.headers)


def config_text(keys: Keys, body: str = "", *, tokens: bool = True, api: str = "") -> str:
    """A config for ``keys``' namespace: ``body`` plus one token per role (and ``api``,
    more lines of the ``api:`` section)."""
    section = (TOKENS_YAML if tokens else "api:\n  tokens: {}\n") + api
    return f"namespace: {keys.ns}\n{section}{body}"


@asynccontextmanager
async def running_api(
    r: Redis, keys: Keys, body: str = "", *, tokens: bool = True, clock: Clock | None = None,
    apply: bool = True, api: str = "",
) -> AsyncIterator[Api]:  # fmt: skip
    """Serve the API over the config ``body`` (its tasks applied to Redis first)."""
    config = load_text(config_text(keys, body, tokens=tokens, api=api), env={}).config
    if apply:
        await taskdefs.apply(r, keys, config)
    clock = clock or FakeClock()
    port = free_port()
    runner = await serve(create_app(r, config, clock), "127.0.0.1", port)
    try:
        yield Api(f"http://127.0.0.1:{port}", config, clock)
    finally:
        await runner.cleanup()
