"""Requeueing a dead letter: its original fields back on its source stream, once."""

from __future__ import annotations

from typing import Final

import redis.asyncio as aioredis

from shared.contract.keys import Keys
from shared.contract.scripts import run

REQUEUED_TTL_MS: Final = 24 * 3600 * 1000
"""How long a requeued dead letter remembers the entry it became (a retry within it
returns that entry instead of writing a second one)."""


async def requeue(
    r: aioredis.Redis, keys: Keys, entry_id: str, source: str, original: dict[bytes, bytes]
) -> str | None:
    """Move dead letter ``entry_id`` back onto ``source`` with ``original`` as its fields;
    the new entry id, or None when no such dead letter is left. Atomic and idempotent:
    the client may retry the call after a lost reply, and the entry is written once."""
    pairs = [part for item in original.items() for part in item]
    new_id = await run(r, "requeue", [keys.dead, source, keys.requeued(entry_id)],
                       [entry_id, REQUEUED_TTL_MS, *pairs])  # fmt: skip
    if new_id is None:
        return None
    return new_id.decode() if isinstance(new_id, bytes) else str(new_id)
