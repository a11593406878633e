"""Run the API as a service (``watchkeeper api`` or inside ``up``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from services.api.app import create_app, serve
from services.api.auth import check_bind
from shared.config.models import Config
from shared.runtime.clock import Clock, SystemClock
from shared.runtime.logging import get_logger
from shared.runtime.redis import Redis

log = get_logger("watchkeeper.api")


@dataclass
class ApiService:
    """Serves the API until stopped."""

    r: Redis
    config: Config
    clock: Clock = field(default_factory=SystemClock)

    async def run(self, stop: asyncio.Event) -> None:
        """Listen on the configured host/port until ``stop`` is set."""
        check_bind(self.config.api)  # no tokens: loopback only
        host, port = self.config.api.host, self.config.api.port
        runner = await serve(create_app(self.r, self.config, self.clock), host, port)
        log.info("api.listening", url=f"http://{host}:{port}")
        try:
            await stop.wait()
        finally:
            await runner.cleanup()
