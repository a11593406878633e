"""Cheap checks of what the services need in Redis (readiness, data-loss reports)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redis.exceptions import ResponseError

from shared.contract.keys import EXECUTORS_GROUP, REPORTER_GROUP, SCHEDULER_GROUP, Keys
from shared.runtime.redis import Redis, text


def expected_groups(keys: Keys) -> dict[str, tuple[str, ...]]:
    """The consumer groups the services create, by stream (DESIGN §2)."""
    groups: dict[str, tuple[str, ...]] = dict.fromkeys(keys.due_streams, (EXECUTORS_GROUP,))
    groups[keys.triggers] = (SCHEDULER_GROUP,)
    groups[keys.control] = (SCHEDULER_GROUP,)
    groups[keys.results] = (REPORTER_GROUP, SCHEDULER_GROUP)
    groups[keys.alerts_stream] = (SCHEDULER_GROUP,)
    return groups


async def missing_groups(r: Redis, keys: Keys) -> dict[str, list[str]]:
    """Expected groups that do not exist, by stream (empty when all are there).

    One round trip: XINFO GROUPS on every stream in one pipeline; a stream that does
    not exist at all is missing all of its groups.
    """
    expected = expected_groups(keys)
    async with r.pipeline(transaction=False) as pipe:
        for stream in expected:
            pipe.xinfo_groups(stream)
        replies: list[Any] = await pipe.execute(raise_on_error=False)
    missing: dict[str, list[str]] = {}
    for (stream, wanted), reply in zip(expected.items(), replies, strict=True):
        present = set() if isinstance(reply, ResponseError) else {text(g["name"]) for g in reply}
        if absent := [g for g in wanted if g not in present]:
            missing[stream] = absent
    return missing


def settings_warnings(info: Mapping[str, Any]) -> list[str]:
    """What in a server's settings (``INFO persistence`` and ``INFO memory``, merged)
    puts Watchkeeper's data at risk; empty when nothing does.

    - eviction: a ``maxmemory-policy`` other than ``noeviction`` lets Redis delete a
      stream, a consumer group's stream or the leader lease under memory pressure;
    - no append-only file: a restart loses everything written since the last snapshot
      (``appendfsync always`` or ``everysec`` is recommended, see the README).
    """
    warnings = []
    policy = text(info.get("maxmemory_policy", "noeviction"))
    if policy != "noeviction":
        warnings.append(
            f"maxmemory-policy is {policy}: Redis may evict streams, groups or the leader "
            "lease under memory pressure (set noeviction)"
        )
    if str(info.get("aof_enabled", "1")) != "1":
        warnings.append(
            "the append-only file is off: a Redis restart loses what was written since "
            "the last snapshot (set appendonly yes)"
        )
    return warnings


async def server_warnings(r: Redis) -> list[str]:
    """:func:`settings_warnings` of the server ``r`` talks to (INFO, which managed Redis
    services allow where CONFIG GET is often disabled; one round trip)."""
    async with r.pipeline(transaction=False) as pipe:
        pipe.info("persistence")
        pipe.info("memory")
        persistence, memory = await pipe.execute()
    return settings_warnings({**persistence, **memory})
