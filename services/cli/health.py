"""The deployment's health as ``status`` and ``dashboard`` show it.

:func:`read_health` gathers the facts (leader, executors, queues, counts, how Redis
keeps its data); :meth:`Health.warnings` judges them, purely. Redis is a queue here:
with an eviction policy other than ``noeviction`` it may silently drop streams and
schedule state under memory pressure, and without AOF or RDB a restart loses them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import ResponseError

from services.cli.snapshot import executors
from shared.contract.keys import EXECUTORS_GROUP, Keys
from shared.contract.readmodel import ExecutorBeat
from shared.contract.vocabulary import PRIORITIES
from shared.runtime.probes import RedisFacts, redis_facts
from shared.runtime.redis import Redis, text


@dataclass(frozen=True, slots=True)
class Queue:
    """One due stream: entries not yet read by any executor, and read but unacked."""

    priority: str
    waiting: int
    in_flight: int


@dataclass(frozen=True, slots=True)
class Health:
    """Everything ``status`` reports."""

    namespace: str
    leader: str | None
    leader_ttl_s: float | None
    executors: list[ExecutorBeat]
    tasks: int
    paused: int
    due: int
    retries: int
    queues: list[Queue]
    alerts: int | None
    redis: RedisFacts
    notes: list[str] = field(default_factory=list)

    def warnings(self) -> list[str]:
        """Problems a person should act on."""
        found = list(self.notes)
        if self.leader is None:
            found.append("no scheduler leader: nothing is being scheduled")
        if not self.executors:
            found.append("no executor alive: due runs wait in the queues")
        return found + self.redis.warnings()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (``status -o json``)."""
        return {
            "namespace": self.namespace,
            "scheduler": {"leader": self.leader, "lease_ttl_s": self.leader_ttl_s},
            "executors": [_beat(b) for b in self.executors],
            "tasks": {"total": self.tasks, "paused": self.paused, "due": self.due},
            "queues": {q.priority: {"waiting": q.waiting, "in_flight": q.in_flight}
                       for q in self.queues},
            "retries_pending": self.retries, "alerts_active": self.alerts,
            "redis": dataclasses.asdict(self.redis),
            "warnings": self.warnings(),
        }  # fmt: skip


def _beat(b: ExecutorBeat) -> dict[str, Any]:
    return {"id": b.id, "host": b.host, "pid": b.pid, "inflight": b.inflight,
            "max_concurrent": b.max_concurrent, "last_beat": b.last_beat}  # fmt: skip


async def read_health(r: Redis, keys: Keys, now: float) -> Health:
    """Read every fact ``status`` shows (one round trip for the counters)."""
    async with r.pipeline(transaction=False) as pipe:
        pipe.get(keys.scheduler_leader)
        pipe.pttl(keys.scheduler_leader)
        pipe.hlen(keys.taskdefs)
        pipe.scard(keys.schedule_paused)
        pipe.zcount(keys.schedule_next, "-inf", now)
        pipe.zcard(keys.schedule_retries)
        leader, ttl_ms, tasks, paused, due, retries = await pipe.execute()
    return Health(
        namespace=keys.ns, leader=None if leader is None else text(leader),
        leader_ttl_s=ttl_ms / 1000 if leader is not None and ttl_ms > 0 else None,
        executors=await executors(r, keys), tasks=tasks, paused=paused, due=due,
        retries=retries, queues=[await _queue(r, keys, p) for p in PRIORITIES],
        alerts=await _alerts(r, keys), redis=await redis_facts(r),
    )  # fmt: skip


async def _queue(r: Redis, keys: Keys, priority: str) -> Queue:
    stream = keys.due(priority)
    try:
        groups: Any = await r.xinfo_groups(stream)
    except ResponseError:
        return Queue(priority, 0, 0)  # no stream yet: nothing was ever due here
    for group in groups:
        if text(group["name"]) == EXECUTORS_GROUP:
            lag = group.get("lag")
            waiting = int(lag) if lag is not None else await r.xlen(stream)
            return Queue(priority, waiting, int(group["pending"]))
    return Queue(priority, await r.xlen(stream), 0)


async def _alerts(r: Redis, keys: Keys) -> int | None:
    """Active alerts, or None when no alert store exists yet (no reporter ran)."""
    kind = text(await r.type(keys.alerts_active))
    counters = {"hash": r.hlen, "zset": r.zcard, "set": r.scard}
    count = counters.get(kind)
    return None if count is None else int(await count(keys.alerts_active))
