"""Lua scripts shipped with Watchkeeper, loaded once per client and called by SHA."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import msgpack
import redis.asyncio as aioredis


@cache
def source(name: str) -> str:
    """Text of ``shared/contract/lua/<name>.lua``."""
    return (resources.files("shared.contract") / "lua" / f"{name}.lua").read_text()


def script(r: aioredis.Redis, name: str) -> Any:
    """A redis-py Script object (EVALSHA with automatic reload) for ``name``."""
    return r.register_script(source(name))


class GuardedBatch:
    """Writes applied at most once per marker (idempotent consumers).

    ``add("HSET", key, field, value)`` queues a command; ``apply`` runs them all in one
    script call if ``marker`` was not set before, and reports whether it did.
    """

    def __init__(self) -> None:
        self._keys: list[str] = []
        self._ops: list[list[Any]] = []

    def add(self, command: str, key: str, *args: Any) -> None:
        """Queue ``command key *args`` (values as str/bytes/numbers)."""
        if key not in self._keys:
            self._keys.append(key)
        self._ops.append([command, self._keys.index(key) + 2, *args])

    async def apply(self, r: aioredis.Redis, marker: str, ttl_ms: int) -> tuple[bool, list[str]]:
        """Run the batch unless ``marker`` exists: (applied, refused writes).

        Writes that Redis refused (e.g. a key of the wrong type) come back with the
        reason for the caller to log; the others are kept, and none is applied twice.
        """
        # Lua cmsgpack knows no bin type: pack bytes and text alike as raw strings.
        body = msgpack.packb(self._ops, use_bin_type=False)
        reply = await script(r, "guarded")(keys=[marker, *self._keys], args=[ttl_ms, body])
        errors = [e.decode() if isinstance(e, bytes) else str(e) for e in reply[1:]]
        return bool(reply[0]), errors
