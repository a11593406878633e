"""What every CLI command shares: the ``-c`` option, config loading, a Redis connection.

The config file is found in this order: ``-c/--config``, ``WATCHKEEPER_CONFIG``, then
``./watchkeeper.yml`` when it exists; with none of them the defaults (plus environment
overrides) apply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import click

from services.cli.api_client import ApiClient, api_target, with_api
from services.cli.exits import ConfigInvalid, Unreachable
from services.executor.handlers import registry
from shared.config.checks import DEFAULT_CHECKS, Problem, default_warnings, handler_check
from shared.config.loader import ConfigError, Loaded, load_config
from shared.config.models import Config
from shared.contract.keys import Keys
from shared.runtime.clock import Clock, SystemClock
from shared.runtime.logging import add_secrets, configure_logging
from shared.runtime.redis import Redis, connect

T = TypeVar("T")
DEFAULT_CONFIG = Path("watchkeeper.yml")
"""Read from the working directory when neither ``-c`` nor ``WATCHKEEPER_CONFIG`` is given."""

CONFIG_OPTION = click.option(
    "-c", "--config", "config_path", envvar="WATCHKEEPER_CONFIG", type=click.Path(dir_okay=False),
    help="YAML config file (env WATCHKEEPER_CONFIG).",
)  # fmt: skip


def cli_clock() -> Clock:
    """The clock of this invocation: ``obj={"clock": ...}`` given to the command (tests
    pass a fake one), else the system clock. Commands and ``up`` read time only here."""
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    clock: Clock | None = obj.get("clock") if isinstance(obj, dict) else None
    return clock or SystemClock()


def discover(path: str | Path | None) -> str | None:
    """The config file to read: ``path`` (from ``-c`` or the environment), else
    ``./watchkeeper.yml`` if present, else None (defaults)."""
    if path is not None:
        return str(path)
    return str(DEFAULT_CONFIG) if DEFAULT_CONFIG.is_file() else None


def load(given: str | Path | None) -> Loaded:
    """Load and fully validate the config (see :func:`discover`); exit 2 with every error
    listed if it is invalid.

    ``executor.plugins`` are imported once the file is valid and before the handler
    check, so a task may name a handler that only a plugin registers (one parse and one
    validation: a file of 100,000 tasks costs seconds, not minutes).
    """
    path = discover(given)
    try:
        loaded = load_config(path, checks=(*DEFAULT_CHECKS, _plugin_handlers),
                             warning_checks=default_warnings(cli_clock().now()))  # fmt: skip
    except ConfigError as exc:
        raise ConfigInvalid(str(exc)) from None
    except ImportError as exc:
        raise ConfigInvalid(f"executor.plugins: cannot import {exc.name!r}: {exc}") from None
    add_secrets(loaded.config.secrets())
    return loaded


def _plugin_handlers(config: Config) -> Iterator[Problem]:
    """The handler check, after importing the config's ``executor.plugins``."""
    registry.load_plugins(config.executor.plugins)
    yield from handler_check(registry.names())(config)


def setup_logging(loaded: Loaded) -> None:
    """Configure logging from the config's ``logging`` section."""
    settings = loaded.config.logging
    configure_logging(level=settings.level, json=settings.json_output)


def redis_url(config: Config) -> str:
    """The configured Redis, else the address where ``watchkeeper up`` serves its embedded one."""
    return config.redis.url or f"redis://{config.redis.embedded_host}:{config.redis.embedded_port}"


LOCAL_ONLY = "up and the services, apply, cleanup, healthcheck"
"""The commands that work on Redis (or start services) only, never through the API."""


def refuse_api() -> None:
    """A usage error (exit 2) when ``--api`` was given: the command at hand works on Redis
    only (silently reading Redis when the API was asked for would hide the truth)."""
    if api_target() is None:
        return
    ctx = click.get_current_context(silent=True)
    name = f"`{ctx.command_path}`" if ctx is not None else "this command"
    raise click.UsageError(f"{name} works on Redis directly, never through the API (local "
                           f"only: {LOCAL_ONLY}); drop --api")  # fmt: skip


def with_redis(
    config: Config, work: Callable[[Redis, Keys], Awaitable[T]], *, wait_s: float = 3.0
) -> T:
    """Run ``work`` with a connection; an unreachable Redis is a clear CLI error (exit 4;
    Redis going away during ``work`` is mapped the same way by the root group)."""

    refuse_api()

    async def main() -> T:
        try:
            r = await connect(redis_url(config), wait_s=wait_s)
        except ConnectionError as exc:
            raise Unreachable(str(exc)) from None
        try:
            return await work(r, Keys(config.namespace))
        finally:
            await r.aclose()

    return asyncio.run(main())


def with_backend(
    config: Config, redis_work: Callable[[Redis, Keys], Awaitable[T]],
    api_work: Callable[[ApiClient], Awaitable[T]], *, wait_s: float = 3.0,
) -> T:  # fmt: skip
    """``api_work`` through the API when ``--api`` was given, else ``redis_work`` on Redis:
    the two twins of a command return the same value, so it prints the same either way."""
    target = api_target()
    if target is not None:
        return with_api(target, api_work)
    return with_redis(config, redis_work, wait_s=wait_s)
