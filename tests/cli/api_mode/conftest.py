"""Fixtures of the ``--api`` tests: each command runs twice against the same Redis,
directly and through a real API server (``watchkeeper api`` as its own process), and
``-o json`` must be identical."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from services.cli.output import FORMATS
from shared.contract.keys import Keys
from shared.runtime.clock import FakeClock
from shared.runtime.embedded import free_port
from tests.cli.conftest import TASKS, Invoke
from tests.support.processes import cli_env, kill_all, spawn

TOKENS = {"viewer": "v-token", "operator": "o-token", "admin": "a-token"}
ADMIN = {"WATCHKEEPER_TOKEN": "a-token"}


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def cfg(tmp_path: Path, keys: Keys, port: int) -> Path:
    """The CLI tests' three tasks plus a failing one, an API on ``port`` with a token per
    role (named after it), and rollback points kept in ``tmp_path/rollbacks``."""
    tasks = TASKS | {"broken": {"handler": "command", "params": {"argv": ["false"]}}}
    tokens = {role: {"token": tok, "role": role} for role, tok in TOKENS.items()}
    body = {"namespace": keys.ns, "timezone": "UTC", "tasks": tasks,
            "api": {"host": "127.0.0.1", "port": port, "tokens": tokens},
            "executor": {"rollback_dir": str(tmp_path / "rollbacks")}}  # fmt: skip
    path = tmp_path / "wk.yml"
    path.write_text(yaml.safe_dump(body))
    return path


async def _until_healthy(url: str) -> None:
    async with asyncio.timeout(30), aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url + "/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass  # not listening yet
            await asyncio.sleep(0.05)


def _services(cfg: Path, redis_url: str, port: int, *names: str) -> Iterator[str]:
    procs = [spawn(n, cfg, env=cli_env(redis_url), cwd=cfg.parent) for n in names]
    try:
        url = f"http://127.0.0.1:{port}"
        asyncio.run(_until_healthy(url))
        yield url
    finally:
        kill_all(procs)


@pytest.fixture
def api(cfg: Path, redis_url: str, port: int, wk: Invoke) -> Iterator[str]:
    """The config applied to Redis and ``watchkeeper api`` serving it; yields its URL."""
    assert wk("apply").exit_code == 0
    yield from _services(cfg, redis_url, port, "api")


@pytest.fixture
def stack(cfg: Path, redis_url: str, port: int, wk: Invoke) -> Iterator[str]:
    """The API with a scheduler, an executor and the reporter (which records results)."""
    assert wk("apply").exit_code == 0
    yield from _services(cfg, redis_url, port, "api", "scheduler", "executor", "reporter")


def both(
    wk: Invoke, url: str, *args: str, env: dict[str, str] | None = None,
    clock: FakeClock | None = None,
) -> tuple[Any, Any]:  # fmt: skip
    """``args`` run on Redis and through the API (same fake clock): both JSON outputs."""
    direct, via_api = outputs(wk, url, *args, env=env, clock=clock)
    return json.loads(direct), json.loads(via_api)


def outputs(
    wk: Invoke, url: str, *args: str, env: dict[str, str] | None = None,
    clock: FakeClock | None = None,
) -> tuple[str, str]:  # fmt: skip
    """``args`` run on Redis and through the API (same fake clock): both stdouts (each
    command must succeed)."""
    clock = clock or FakeClock()
    direct = wk(*args, obj={"clock": clock}, env=env)
    via_api = wk("--api", url, *args, obj={"clock": clock}, env=ADMIN | (env or {}))
    assert direct.exit_code == 0, direct.output
    assert via_api.exit_code == 0, via_api.output
    return direct.stdout, via_api.stdout


def same_in_every_format(wk: Invoke, url: str, *args: str, clock: FakeClock | None = None) -> Any:
    """Assert ``args`` print the same through the API as on Redis, in every ``-o`` format;
    return the JSON."""
    for fmt in FORMATS:
        direct, via_api = outputs(wk, url, *args, "-o", fmt, clock=clock)
        assert via_api == direct, fmt
    return json.loads(outputs(wk, url, *args, "-o", "json", clock=clock)[0])
