"""Reading the read model for ``tasks``, ``status`` and ``dashboard`` (Redis only).

Each reader returns plain frozen values with an ``as_dict`` for ``-o json``; nothing
here prints. The keys and records are the ones in :mod:`shared.contract.readmodel`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.config import taskdefs
from shared.config.models import TaskConfig
from shared.contract.codec import EventDecodeError, decode
from shared.contract.events import TaskResult
from shared.contract.keys import Keys
from shared.contract.readmodel import ScheduleState
from shared.contract.records import RecordError
from shared.runtime.redis import Redis, text


def schedule_text(task: TaskConfig) -> str:
    """A task's schedule on one line: ``every 5m during nyse; every 1h outside nyse``."""
    parts = []
    for spec in task.schedule:
        words = []
        for name, value in spec.items():
            shown = ",".join(map(str, value)) if isinstance(value, list) else value
            words.append(f"{name} {shown}")
        parts.append(" ".join(words))
    return "; ".join(parts) or "manual only"


@dataclass(frozen=True, slots=True)
class TaskRow:
    """One task as ``tasks list`` shows it: definition, schedule state, next fire."""

    name: str
    definition: TaskConfig
    state: ScheduleState
    next_fire: float | None
    paused: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the full definition is in ``tasks show``)."""
        d, s = self.definition, self.state
        return {
            "name": self.name, "handler": d.handler, "enabled": d.enabled,
            "paused": self.paused, "priority": d.priority, "schedule": schedule_text(d),
            "window": d.window, "next_fire": self.next_fire, "last_status": s.last_status,
            "last_run_at": s.last_run_at, "runs": s.runs, "failures": s.failures,
            "consecutive_failures": s.consecutive_failures,
        }  # fmt: skip


async def task_rows(r: Redis, keys: Keys, only: str | None = None) -> list[TaskRow]:
    """Every stored task (or just ``only``), by name."""
    if only is not None:
        one = await taskdefs.load(r, keys, only)
        defs = {} if one is None else {only: one}
    else:
        defs = await taskdefs.load_all(r, keys)
    names = sorted(defs)
    async with r.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hgetall(keys.schedule_state(name))
            pipe.zscore(keys.schedule_next, name)
        pipe.smembers(keys.schedule_paused)
        replies = await pipe.execute()
    paused = {text(m) for m in replies[-1]}
    rows = []
    for i, name in enumerate(names):
        state = _state(replies[2 * i])
        nxt = replies[2 * i + 1]
        rows.append(TaskRow(name, defs[name], state, None if nxt is None else float(nxt),
                            name in paused or state.paused))  # fmt: skip
    return rows


def _state(raw: Any) -> ScheduleState:
    try:
        return ScheduleState.from_fields(raw)
    except RecordError:
        return ScheduleState()  # a damaged hash shows as "no runs", never a crash


async def upcoming(r: Redis, keys: Keys, count: int) -> list[tuple[str, float]]:
    """The next ``count`` (task, fire time) pairs from ``schedule:next``, soonest first."""
    pairs: Any = await r.zrange(keys.schedule_next, 0, count - 1, withscores=True)
    return [(text(name), float(score)) for name, score in pairs]


async def recent_results(r: Redis, keys: Keys, count: int) -> list[TaskResult]:
    """The last ``count`` results recorded in ``history``, newest first."""
    raw: Any = await r.xrevrange(keys.history, count=count)
    results = []
    for _, fields in raw:
        try:
            event = decode(fields)
        except EventDecodeError:
            continue
        if isinstance(event, TaskResult):
            results.append(event)
    return results
