"""The deployment's health as ``watchkeeper status``, the terminal dashboard and
``GET /api/v1/status`` show it: one reader for all three.

:func:`read_health` gathers the facts (leader, executors, queues, counts, active alerts,
how Redis keeps its data); :meth:`Health.warnings` judges them, purely. Redis is a queue
here: with an eviction policy other than ``noeviction`` it may silently drop streams and
schedule state under memory pressure, and without AOF or RDB a restart loses them.
:meth:`Health.as_dict` is the JSON form and :meth:`Health.from_dict` reads it back, so a
client of the API holds the same value the server read.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from shared.contract.keys import EXECUTORS_GROUP, Keys
from shared.contract.readmodel import ExecutorBeat
from shared.contract.records import RecordError
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
    alerts: int
    """Active alerts (the reporter's index ``{ns}:alerts``; Redis drops it when empty)."""
    redis: RedisFacts

    def warnings(self) -> list[str]:
        """Problems a person should act on."""
        found = []
        if self.leader is None:
            found.append("no scheduler leader: nothing is being scheduled")
        if not self.executors:
            found.append("no executor alive: due runs wait in the queues")
        return found + self.redis.warnings()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (``status -o json``, ``GET /api/v1/status``)."""
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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Health:
        """The value :meth:`as_dict` printed (the warnings are judged again)."""
        scheduler, tasks = data["scheduler"], data["tasks"]
        return cls(
            namespace=data["namespace"], leader=scheduler["leader"],
            leader_ttl_s=scheduler["lease_ttl_s"],
            executors=[ExecutorBeat.from_fields(b) for b in data["executors"]],
            tasks=tasks["total"], paused=tasks["paused"], due=tasks["due"],
            retries=data["retries_pending"], alerts=data["alerts_active"],
            queues=[Queue(p, q["waiting"], q["in_flight"]) for p, q in data["queues"].items()],
            redis=RedisFacts(**data["redis"]),
        )  # fmt: skip


def _beat(b: ExecutorBeat) -> dict[str, Any]:
    return {"id": b.id, "host": b.host, "pid": b.pid, "inflight": b.inflight,
            "max_concurrent": b.max_concurrent, "started_at": b.started_at,
            "last_beat": b.last_beat}  # fmt: skip


async def read_health(r: Redis, keys: Keys, now: float) -> Health:
    """Read every fact ``status`` shows (one round trip for the counters)."""
    async with r.pipeline(transaction=False) as pipe:
        pipe.get(keys.scheduler_leader)
        pipe.pttl(keys.scheduler_leader)
        pipe.hlen(keys.taskdefs)
        pipe.scard(keys.schedule_paused)
        pipe.zcount(keys.schedule_next, "-inf", now)
        pipe.zcard(keys.schedule_retries)
        pipe.zcard(keys.alerts_active)
        leader, ttl_ms, tasks, paused, due, retries, alerts = await pipe.execute()
    return Health(
        namespace=keys.ns, leader=None if leader is None else text(leader),
        leader_ttl_s=ttl_ms / 1000 if leader is not None and ttl_ms > 0 else None,
        executors=await executors(r, keys), tasks=tasks, paused=paused, due=due,
        retries=retries, queues=[await _queue(r, keys, p) for p in PRIORITIES],
        alerts=alerts, redis=await redis_facts(r),
    )  # fmt: skip


async def executors(r: Redis, keys: Keys) -> list[ExecutorBeat]:
    """Executors whose heartbeat key is present (its TTL makes present mean alive)."""
    beats = []
    async for key in r.scan_iter(match=keys.executor("*"), count=200):
        raw = await r.hgetall(key)
        try:
            beats.append(ExecutorBeat.from_fields(raw))
        except RecordError:
            continue  # expired between SCAN and HGETALL, or damaged
    return sorted(beats, key=lambda b: b.id)


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
