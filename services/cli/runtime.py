"""The composition root's runtime: Redis (or an embedded one), logging, signals, services."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from shared.config import taskdefs
from shared.config.models import Config
from shared.contract.keys import Keys
from shared.runtime.embedded import EmbeddedRedis
from shared.runtime.logging import get_logger
from shared.runtime.redis import Redis, connect

log = get_logger("watchkeeper.cli")
Service = Callable[[asyncio.Event], Awaitable[None]]
T = TypeVar("T")


def serve(main: Coroutine[Any, Any, T]) -> T:
    """Run the services' ``main`` on uvloop (libuv: its loop and sockets cost every service
    less CPU per run than asyncio's own, docs/performance-history.md, stop 20), or on
    asyncio's loop where uvloop is not installed (it does not build on Windows)."""
    try:
        import uvloop  # optional: it does not build on Windows
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


@contextlib.asynccontextmanager
async def redis_for(
    config: Config, *, embedded: bool, announce: Callable[[str], None]
) -> AsyncIterator[Redis]:
    """Connect to the configured Redis, or start an embedded one when allowed and none is set."""
    async with contextlib.AsyncExitStack() as stack:
        url = config.redis.url
        if url is None:
            if not embedded:
                raise SystemExit("no Redis configured: set REDIS_URL or redis.url in the config")
            server = EmbeddedRedis(
                Path(config.data_dir) / "redis",
                host=config.redis.embedded_host,
                port=config.redis.embedded_port,
            )
            await stack.enter_async_context(server)
            url = server.url
            announce(f"Redis:     {url}  (embedded, AOF in {server.data_dir}/)")
        r = await connect(url)
        stack.push_async_callback(r.aclose)
        yield r


def install_stop_signals(stop: asyncio.Event) -> None:
    """SIGINT/SIGTERM set ``stop`` (a second signal is left to the default handler)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):

        def handle(sig: signal.Signals = sig) -> None:
            log.info("shutdown.requested", signal=sig.name)
            stop.set()
            loop.remove_signal_handler(sig)

        loop.add_signal_handler(sig, handle)


async def run_services(services: Sequence[Service], stop: asyncio.Event) -> None:
    """Run every service in one TaskGroup; one crashing stops the others."""
    try:
        async with asyncio.TaskGroup() as group:
            for service in services:
                group.create_task(_stop_on_exit(service, stop))
    finally:
        stop.set()


async def _stop_on_exit(service: Service, stop: asyncio.Event) -> None:
    try:
        await service(stop)
    finally:
        stop.set()


def with_archive(names: tuple[str, ...], config: Config) -> tuple[str, ...]:
    """``names`` plus the PostgreSQL archive beside the reporter when a database is
    configured (``database.url``, ``database.archive``); the archive alone needs one."""
    db = config.database
    if "archive" in names and not db.url:
        raise SystemExit("the archive needs a database: set DATABASE_URL or database.url")
    if "reporter" in names and "archive" not in names and db.url and db.archive:
        return (*names, "archive")
    return names


def definitions_for(config: Config, names: tuple[str, ...]) -> tuple[Config, taskdefs.Packed]:
    """The config the services ``names`` run with, and the file's task definitions as
    stored (packed), which a scheduler applies at start and restores after a data loss.

    A scheduler running alone needs the file's tasks for nothing else: it gets a config
    without them, so the parsed models (about 4 KB each, 400 MB for 100,000 tasks) can
    be freed before it loads. The other services read ``config.tasks`` and keep them.
    """
    packed = taskdefs.Packed.of(taskdefs.dumped(config) if "scheduler" in names else ())
    if names == ("scheduler",):
        config = config.model_copy(update={"tasks": {}})
    return config, packed


async def apply_config(r: Redis, config: Config, definitions: taskdefs.Packed, *,
                       prune: bool) -> dict[str, str]:  # fmt: skip
    """Sync the file's task definitions into Redis (``prune`` deletes tasks not in it)."""
    return await taskdefs.apply_stored(r, Keys(config.namespace), definitions, prune=prune)
