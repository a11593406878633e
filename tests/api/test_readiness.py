"""``/readyz`` on a real server: ready only when groups, definitions, a scheduler
leader and a live executor are all there; 503 naming what is missing otherwise."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from services.api.app import create_app, serve
from services.executor.service import Executor
from services.reporter.service import Reporter
from services.scheduler.service import Scheduler
from shared.config import taskdefs
from shared.config.models import Config, TaskConfig
from shared.contract.keys import Keys
from shared.runtime.embedded import free_port
from shared.runtime.redis import Redis

KEYS = Keys("ops")
CONFIG = Config(
    namespace=KEYS.ns, tasks={"hc": TaskConfig(handler="command", params={"argv": ["true"]})}
)
ALL_GROUPS = {
    **{stream: ["executors"] for stream in KEYS.due_streams},
    KEYS.emergency: ["scheduler"], KEYS.triggers: ["scheduler"], KEYS.control: ["scheduler"],
    KEYS.results: ["reporter", "scheduler"], KEYS.alerts_stream: ["scheduler"],
}  # fmt: skip


@pytest.fixture
async def readyz(own_redis: Redis) -> AsyncIterator[str]:
    port = free_port()
    runner = await serve(create_app(own_redis, CONFIG), "127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}/readyz"
    finally:
        await runner.cleanup()


async def _get(url: str) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, await resp.json()


async def _deploy(r: Redis) -> tuple[Scheduler, Executor]:
    """What ``up`` does at start: apply, then start every service and lead."""
    await taskdefs.apply(r, KEYS, CONFIG)
    scheduler, executor = Scheduler(r, CONFIG), Executor(r, CONFIG)
    await scheduler.start()
    await scheduler.run_once(block_ms=None)
    await executor.start()
    await Reporter(r, CONFIG).start()
    return scheduler, executor


async def test_nothing_deployed_is_503_listing_everything_missing(readyz: str) -> None:
    status, body = await _get(readyz)
    assert status == 503
    assert body["status"] == "not ready"
    assert body["missing"] == {
        "groups": ALL_GROUPS,
        "taskdefs": "none stored, the config has 1",
        "scheduler_leader": "no scheduler replica holds the leader lease",
        "executor_heartbeat": "no executor has a live heartbeat",
    }


async def test_ready_until_redis_loses_its_data_and_again_once_restored(
    readyz: str, own_redis: Redis
) -> None:
    scheduler, executor = await _deploy(own_redis)
    status, body = await _get(readyz)
    assert (status, body["status"], body["missing"]) == (200, "ready", {})
    assert body["taskdefs"] == 1
    assert body["executors"] == [executor.id]

    await own_redis.flushall()
    status, body = await _get(readyz)
    assert status == 503
    assert set(body["missing"]) == {"groups", "taskdefs", "scheduler_leader", "executor_heartbeat"}

    await scheduler.start()
    await scheduler.run_once(block_ms=None)  # the leader re-takes the lease and re-applies
    status, body = await _get(readyz)
    assert status == 503
    assert body["missing"] == {
        "groups": {**{s: ["executors"] for s in KEYS.due_streams}, KEYS.results: ["reporter"]},
        "executor_heartbeat": "no executor has a live heartbeat",
    }

    await executor.start()
    await Reporter(own_redis, CONFIG).start()
    assert (await _get(readyz))[0] == 200


async def test_an_executor_that_stopped_cleanly_is_not_counted(
    readyz: str, own_redis: Redis
) -> None:
    _, executor = await _deploy(own_redis)
    await executor.heartbeat.clear()
    status, body = await _get(readyz)
    assert status == 503
    assert body["missing"] == {"executor_heartbeat": "no executor has a live heartbeat"}


async def test_readyz_warns_of_eviction_and_no_aof_without_becoming_unready(
    readyz: str, own_redis: Redis
) -> None:
    await _deploy(own_redis)
    await own_redis.config_set("maxmemory-policy", "allkeys-lru")
    status, body = await _get(readyz)
    assert (status, body["status"]) == (200, "ready")
    warnings = body["warnings"]
    assert isinstance(warnings, list) and len(warnings) == 2
    assert "allkeys-lru" in warnings[0] and "persists nothing" in warnings[1]
