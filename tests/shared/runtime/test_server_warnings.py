"""Server settings that put Watchkeeper's data at risk: eviction and no AOF."""

from __future__ import annotations

import pytest

from shared.runtime.probes import server_warnings, settings_warnings
from shared.runtime.redis import Redis


@pytest.mark.parametrize(
    ("info", "warned"),
    [
        ({"maxmemory_policy": "noeviction", "aof_enabled": 1}, []),
        ({"maxmemory_policy": "allkeys-lru", "aof_enabled": 1},
         ["maxmemory-policy is allkeys-lru"]),
        ({"maxmemory_policy": b"volatile-ttl", "aof_enabled": 0},
         ["maxmemory-policy is volatile-ttl", "the append-only file is off"]),
    ],
)  # fmt: skip
def test_settings_warnings(info: dict[str, object], warned: list[str]) -> None:
    found = settings_warnings(info)
    assert len(found) == len(warned)
    assert all(f.startswith(w) for f, w in zip(found, warned, strict=True))


async def test_a_real_servers_settings_are_read(own_redis: Redis) -> None:
    # own_redis runs without AOF, with the default noeviction
    assert [w[:30] for w in await server_warnings(own_redis)] == ["the append-only file is off: a"]
    await own_redis.config_set("maxmemory-policy", "allkeys-lru")
    await own_redis.config_set("appendonly", "yes")
    [warning] = await server_warnings(own_redis)
    assert warning.startswith("maxmemory-policy is allkeys-lru")
