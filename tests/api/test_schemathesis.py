"""schemathesis against the API's own OpenAPI document, with a live server on real Redis:
whatever it generates from the document, no response is a 5xx.

The server runs in a thread with its own event loop (schemathesis calls it synchronously);
the examples per operation are few so the suite stays fast.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from services.api.app import create_app, serve
from services.api.routes.health import OPENAPI
from shared.config import taskdefs
from shared.config.loader import load_text
from shared.config.models import Config
from shared.contract.keys import Keys
from shared.runtime.embedded import free_port
from shared.runtime.redis import client
from tests.api.support import TOKENS, config_text

CONFIG = """
timezone: America/New_York
calendars:
  nyse: {timezone: America/New_York, sessions: {mon-fri: '09:30-16:00'}, holidays: [2026-12-25]}
windows:
  nightly: {days: [mon, tue, wed, thu, fri, sat, sun], hours: '01:00-05:00', max_concurrent: 1}
tasks:
  hc:
    handler: system_health_check
    schedule: [{every: 5m, during: nyse}, {every: 1h, outside: nyse}]
    emergency: true
    overridable_params: [cpu_threshold]
  clean: {handler: data_cleanup, schedule: {cron: '0 2 * * *'}, window: nightly}
"""


class LiveApi:
    """An API served from a thread until :meth:`stop`."""

    def __init__(self, redis_url: str, config: Config) -> None:
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, args=(redis_url, config), daemon=True)
        self._thread.start()
        assert self._ready.wait(15), "the API did not start"

    def _main(self, redis_url: str, config: Config) -> None:
        self.loop.run_until_complete(self._serve(redis_url, config))

    async def _serve(self, redis_url: str, config: Config) -> None:
        r = client(redis_url)
        await taskdefs.apply(r, Keys(config.namespace), config)
        runner = await serve(create_app(r, config), "127.0.0.1", self.port)
        self._stop = asyncio.Event()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()
            await r.aclose()

    def stop(self) -> None:
        """Stop serving and join the thread."""
        assert self._stop is not None
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)


@pytest.fixture(scope="module")
def live(redis_url: str) -> Iterator[tuple[str, dict[str, Any]]]:
    keys = Keys("schemathesis")
    config = load_text(config_text(keys, CONFIG), env={}).config
    api = LiveApi(redis_url, config)
    try:
        yield f"http://127.0.0.1:{api.port}", {}
    finally:
        api.stop()


def _schema() -> Any:
    config = load_text(config_text(Keys("schemathesis"), CONFIG), env={}).config
    doc = create_app(client("redis://127.0.0.1:1"), config)[OPENAPI]
    # The feed never ends; readiness answers 503 by design while nothing is deployed.
    return schemathesis.openapi.from_dict(doc).exclude(path=["/api/v1/events", "/readyz"])


schema = _schema()


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_request_is_a_server_error(
    case: schemathesis.Case, live: tuple[str, dict[str, Any]]
) -> None:
    base_url, _ = live
    response = case.call(base_url=base_url, headers={"Authorization": f"Bearer {TOKENS['admin']}"},
                         timeout=30)  # fmt: skip
    status = response.status_code
    assert status < 500, f"{case.method} {case.formatted_path} answered {status}"
    case.validate_response(response, checks=(not_a_server_error,))
