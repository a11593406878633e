"""Cheap checks of what the services need in Redis (readiness, data-loss reports) and of
how the server keeps its data (``/readyz`` and ``watchkeeper status`` warn alike)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from shared.contract.keys import EXECUTORS_GROUP, REPORTER_GROUP, SCHEDULER_GROUP, Keys
from shared.runtime.redis import Redis, text


def expected_groups(keys: Keys) -> dict[str, tuple[str, ...]]:
    """The consumer groups the services create, by stream (DESIGN §2)."""
    groups: dict[str, tuple[str, ...]] = dict.fromkeys(keys.due_streams, (EXECUTORS_GROUP,))
    groups[keys.emergency] = (SCHEDULER_GROUP,)
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


@dataclass(frozen=True, slots=True)
class RedisFacts:
    """How the server keeps data (None when it would not say, e.g. CONFIG disabled)."""

    version: str
    maxmemory_policy: str | None
    aof: bool | None
    rdb_save: str | None
    used_memory: int | None

    def warnings(self) -> list[str]:
        """What puts Watchkeeper's streams and state at risk on this server."""
        found = []
        if self.maxmemory_policy not in (None, "noeviction"):
            found.append(f"Redis maxmemory-policy is {self.maxmemory_policy}: under memory "
                         "pressure it may evict streams and state (use noeviction)")  # fmt: skip
        if self.aof is False and self.rdb_save == "":
            found.append("Redis persists nothing (appendonly no, no save rules): a restart "
                         "loses queued runs and all state (enable AOF)")  # fmt: skip
        return found


async def redis_facts(r: Redis) -> RedisFacts:
    """Version, eviction policy and persistence of the server."""
    memory: Any = await r.info("memory")
    persistence: Any = await r.info("persistence")
    server: Any = await r.info("server")
    try:
        save: Any = await r.config_get("save")
        rdb_save: str | None = text(save.get("save", save.get(b"save", "")))
    except ResponseError:
        rdb_save = None  # CONFIG is disabled on many managed servers
    aof = persistence.get("aof_enabled")
    policy = memory.get("maxmemory_policy")
    return RedisFacts(
        version=str(server.get("redis_version", "?")),
        maxmemory_policy=None if policy is None else text(policy),
        aof=None if aof is None else bool(int(aof)), rdb_save=rdb_save,
        used_memory=memory.get("used_memory"),
    )  # fmt: skip
