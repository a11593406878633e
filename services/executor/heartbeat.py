"""Liveness: the executor's heartbeat key and keeping its in-flight entries fresh.

``{ns}:executor:<id>`` is a hash (host, pid, start time, in-flight count) with a TTL of
a few heartbeats: present means alive. ``{ns}:executors`` indexes the ids by last beat,
so readiness finds them without scanning the keyspace. Every beat also re-claims the executor's own
in-flight entries (``shared/contract/lua/run_keepalive.lua``), so a 45-minute backup never looks
idle to a reclaimer; entries another executor took over are reported as lost.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from shared.contract.keys import EXECUTORS_GROUP, Keys
from shared.contract.readmodel import ExecutorBeat
from shared.contract.scripts import script
from shared.runtime.clock import Clock
from shared.runtime.logging import get_logger
from shared.runtime.redis import Redis, text

log = get_logger("watchkeeper.executor")
TTL_BEATS: Final = 3
FORGET_INDEX_S: Final = 86_400.0
"""An executor silent this long leaves the ``{ns}:executors`` index."""


@dataclass
class Heartbeat:
    """Writes one executor's heartbeat and keeps its entries alive."""

    r: Redis
    keys: Keys
    executor_id: str
    clock: Clock
    interval_s: float
    max_concurrent: int
    started_at: float = field(init=False)
    kept_alive_at: float = field(init=False)
    """``clock.monotonic()`` when the in-flight entries were last kept alive (or, before
    the first beat, when this heartbeat was made)."""

    def __post_init__(self) -> None:
        self.started_at = self.clock.time()
        self.kept_alive_at = self.clock.monotonic()

    async def beat(self, inflight: Mapping[str, str]) -> list[str]:
        """Refresh the heartbeat and ``inflight`` (entry id → stream); returns lost ids."""
        began = self.clock.monotonic()
        await self._write(len(inflight))
        by_stream: dict[str, list[str]] = {}
        for entry_id, stream in inflight.items():
            by_stream.setdefault(stream, []).append(entry_id)
        lost: list[str] = []
        keepalive = script(self.r, "run_keepalive")
        for stream, ids in by_stream.items():
            reply: Any = await keepalive(
                keys=[stream], args=[EXECUTORS_GROUP, self.executor_id, *ids]
            )
            lost += [text(i) for i in reply]
        self.kept_alive_at = began
        if lost:
            log.warning("executor.entries_lost", ids=lost, reason="reclaimed by another executor")
        return lost

    async def _write(self, inflight: int) -> None:
        key, now = self.keys.executor(self.executor_id), self.clock.time()
        beat = ExecutorBeat(
            id=self.executor_id, host=socket.gethostname(), pid=os.getpid(),
            started_at=self.started_at, last_beat=now,
            inflight=inflight, max_concurrent=self.max_concurrent,
        )  # fmt: skip
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=beat.to_fields())  # type: ignore[arg-type]  # str keys are fine
            pipe.pexpire(key, int(self.interval_s * TTL_BEATS * 1000))
            # The index readiness reads (latest beat first); long-gone ids drop out.
            pipe.zadd(self.keys.executors, {self.executor_id: now})
            pipe.zremrangebyscore(self.keys.executors, "-inf", now - FORGET_INDEX_S)
            await pipe.execute()

    async def clear(self) -> None:
        """Remove the heartbeat (clean stop: this executor is gone on purpose)."""
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.executor(self.executor_id))
            pipe.zrem(self.keys.executors, self.executor_id)
            await pipe.execute()
