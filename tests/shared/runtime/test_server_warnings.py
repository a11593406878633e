"""How a real server keeps its data, as ``/readyz`` and ``status`` read it (the judgement
itself is table-tested in tests/cli/test_status_and_dashboard.py)."""

from __future__ import annotations

import asyncio

from shared.runtime.probes import redis_facts
from shared.runtime.redis import Redis


async def test_a_real_servers_eviction_and_persistence_are_read(own_redis: Redis) -> None:
    facts = await redis_facts(own_redis)  # own_redis: no AOF, no save rules, noeviction
    assert (facts.maxmemory_policy, facts.aof, facts.rdb_save) == ("noeviction", False, "")
    assert [w.split(":")[0] for w in facts.warnings()] == [
        "Redis persists nothing (appendonly no, no save rules)"
    ]
    await own_redis.config_set("maxmemory-policy", "allkeys-lru")
    await own_redis.config_set("appendonly", "yes")
    [warning] = (await redis_facts(own_redis)).warnings()
    assert warning.startswith("Redis maxmemory-policy is allkeys-lru")
    await _initial_aof_written(own_redis)


async def _initial_aof_written(r: Redis) -> None:
    """Wait for the AOF rewrite that ``appendonly yes`` starts: until it ends the server
    refuses SIGTERM ("Writing initial AOF, can't exit") and the fixture's stop waits 10 s
    for nothing before it kills it."""
    async with asyncio.timeout(10):
        while True:
            info = await r.info("persistence")
            if not (info["aof_rewrite_in_progress"] or info["aof_rewrite_scheduled"]):
                return
            await asyncio.sleep(0.01)
