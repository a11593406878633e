"""``/readyz``: is the deployment whole enough to answer a trigger?

Redis answering is not enough: after Redis lost its data the consumer groups and the
task definitions are gone, and a trigger sent then would never be answered. Ready
means every expected consumer group exists, definitions are stored (when the config
has tasks), a scheduler holds the leader lease and at least one executor's heartbeat
is alive. ``warnings`` lists server settings that put the data at risk (eviction, no
no persistence) without making it unready. A few round trips, whatever the data's size.
"""

from __future__ import annotations

from typing import Any, Final

from shared.config.models import Config
from shared.contract.keys import Keys
from shared.runtime.probes import missing_groups, redis_facts
from shared.runtime.redis import Redis, text

RECENT_EXECUTORS: Final = 16
"""Executors (most recent beats first) whose heartbeat keys are checked."""


async def readiness(r: Redis, keys: Keys, config: Config) -> dict[str, Any]:
    """``{"status": "ready"|"not ready", "missing": {check: what}, ...facts}``."""
    async with r.pipeline(transaction=False) as pipe:
        pipe.hlen(keys.taskdefs)
        pipe.get(keys.scheduler_leader)
        pipe.zrevrange(keys.executors, 0, RECENT_EXECUTORS - 1)
        stored, leader, recent = await pipe.execute()
    executors = await _alive(r, keys, [text(e) for e in recent])
    missing: dict[str, Any] = {}
    if groups := await missing_groups(r, keys):
        missing["groups"] = groups
    if stored == 0 and config.tasks:
        missing["taskdefs"] = f"none stored, the config has {len(config.tasks)}"
    if leader is None:
        missing["scheduler_leader"] = "no scheduler replica holds the leader lease"
    if not executors:
        missing["executor_heartbeat"] = "no executor has a live heartbeat"
    return {
        "status": "not ready" if missing else "ready", "missing": missing,
        "taskdefs": stored, "leader": text(leader) if leader is not None else None,
        "executors": executors, "warnings": (await redis_facts(r)).warnings(),
    }  # fmt: skip


async def _alive(r: Redis, keys: Keys, executor_ids: list[str]) -> list[str]:
    """The executors whose heartbeat key (with its TTL) still exists."""
    if not executor_ids:
        return []
    async with r.pipeline(transaction=False) as pipe:
        for executor_id in executor_ids:
            pipe.exists(keys.executor(executor_id))
        found = await pipe.execute()
    return [e for e, exists in zip(executor_ids, found, strict=True) if exists]
