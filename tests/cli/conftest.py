"""CLI test fixtures: a config on this test's namespace, a sync Redis client, and the
command invoked in-process (CliRunner) with stdout and stderr kept apart."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from click.testing import CliRunner, Result

from services.cli.main import cli
from services.reporter.alerting.store import AlertStore
from services.reporter.alerting.transition import Observation
from shared.config.models import Config
from shared.contract.keys import Keys
from shared.runtime.redis import client

TASKS: dict[str, Any] = {
    "health": {"handler": "system_health_check", "schedule": {"every": "1h"},
               "priority": "high", "emergency": True},
    "sweep": {"handler": "command", "params": {"argv": ["true"]},
              "schedule": {"cron": "30 2 * * *"}},
    "manual": {"handler": "command", "params": {"argv": ["true"]}},
}  # fmt: skip

Invoke = Callable[..., Result]


@pytest.fixture
def cfg(tmp_path: Path, keys: Keys) -> Path:
    """A config on this test's namespace with three tasks (two scheduled, one manual)."""
    path = tmp_path / "wk.yml"
    path.write_text(yaml.safe_dump({"namespace": keys.ns, "timezone": "UTC", "tasks": TASKS}))
    return path


@pytest.fixture
def sync_r(redis_url: str) -> Iterator[redis.Redis]:
    """A synchronous client on the session's server (tests seed and inspect with it)."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def wk(cfg: Path, redis_url: str) -> Invoke:
    """``wk("tasks", "list", obj=...)`` runs the command with ``-c cfg`` on this Redis."""

    def invoke(*args: str, obj: Any = None, env: dict[str, str] | None = None) -> Result:
        environment = {"REDIS_URL": redis_url, "NO_COLOR": None, "FORCE_COLOR": None} | (env or {})
        return CliRunner().invoke(cli, [*args, "-c", str(cfg)], env=environment, obj=obj)

    return invoke


def as_json(result: Result) -> Any:
    """stdout parsed as JSON (the command must have succeeded)."""
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def raise_alerts(
    redis_url: str, keys: Keys, *observations: Observation, resolve: tuple[str, ...] = ()
) -> None:
    """Raise alerts through the reporter's own alert store (hash, index, log, event), then
    resolve the keys in ``resolve``."""

    async def main() -> None:
        r = client(redis_url)
        store = AlertStore.of(r, keys, Config().alerts)
        try:
            for obs in observations:
                await store.raise_(obs)
            for key in resolve:
                await store.resolve(key, observations[-1].at + 60)
        finally:
            await r.aclose()

    asyncio.run(main())
