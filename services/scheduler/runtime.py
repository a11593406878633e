"""The leader's working set: task definitions, compiled schedules, paused tasks.

Everything here is derived from Redis (task defs, the paused set, the pending-slot
hash), so a standby that becomes leader rebuilds it with :meth:`Runtime.load` and
carries on from exactly where the previous leader stopped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from services.scheduler.catalog import Catalog
from services.scheduler.emitter import Emitter, Move
from services.scheduler.planning import Schedule, fire_time, next_slot
from shared import taskdefs
from shared.clock import Clock
from shared.config import Config, TaskConfig
from shared.keys import Keys
from shared.logging import get_logger
from shared.redis import Redis, text

log = get_logger("watchkeeper.scheduler")


@dataclass
class Runtime:
    """Shared state of one scheduler replica (only meaningful while it leads)."""

    r: Redis
    config: Config
    clock: Clock
    keys: Keys
    emitter: Emitter
    catalog: Catalog
    tasks: dict[str, TaskConfig] = field(default_factory=dict)
    schedules: dict[str, Schedule] = field(default_factory=dict)
    paused: set[str] = field(default_factory=set)
    dependents: dict[str, list[str]] = field(default_factory=dict)

    async def load(self, token: str) -> None:
        """Reload every definition and make the schedule zset match them."""
        self.tasks = await taskdefs.load_all(self.r, self.keys)
        self.paused = {text(m) for m in await self.r.smembers(self.keys.schedule_paused)}
        self.schedules = {}
        for name, task in self.tasks.items():
            self._compile(name, task)
        self._index_dependents()
        await self._sync(token)
        log.info("scheduler.loaded", tasks=len(self.tasks), scheduled=len(self.schedules))

    def _compile(self, name: str, task: TaskConfig | None) -> None:
        schedule = None
        if task is not None:
            try:
                schedule = self.catalog.schedule(name, task)
            except ValueError as exc:  # a definition written through the API may be bad
                log.error("scheduler.bad_schedule", task=name, error=str(exc))
        if schedule is None:
            self.schedules.pop(name, None)
        else:
            self.schedules[name] = schedule

    def _index_dependents(self) -> None:
        self.dependents = {}
        for name, task in self.tasks.items():
            for upstream in task.depends_on:
                self.dependents.setdefault(upstream, []).append(name)

    async def _sync(self, token: str) -> None:
        """Give new schedules a first slot; drop slots of tasks no longer scheduled."""
        stored = {text(k) for k in await self.r.hkeys(self.keys.schedule_slots)}
        names: Any = await self.r.zrange(self.keys.schedule_next, 0, -1)
        zset = {text(k) for k in names}
        moves = [self.first_move(n) for n in self.schedules if n not in stored]
        moves += [Move(n, "-") for n in (stored | zset) - set(self.schedules)]
        await self.emitter.advance(token, moves, [], self.now_ms())

    def first_move(self, name: str) -> Move:
        """Start ``name``'s schedule at its first slot after now (or end it)."""
        schedule = self.schedules[name]
        slot = next_slot(schedule, self.clock.time() * 1000)
        if slot is None:
            return Move(name, "-")
        return Move(name, repr(fire_time(schedule, slot)), str(slot))

    async def changed(self, token: str, name: str, task: TaskConfig | None) -> None:
        """A definition changed: recompile it and restart its schedule from now.

        A change the leader already has (it loaded the definition after the event was
        written) is a no-op, so a backlog of change events after ``apply`` costs little.
        """
        old = self.tasks.get(name)
        if old == task:
            return
        if task is None:
            self.tasks.pop(name, None)
        else:
            self.tasks[name] = task
        self._compile(name, task)
        if (old.depends_on if old else []) != (task.depends_on if task else []):
            self._index_dependents()
        move = self.first_move(name) if name in self.schedules else Move(name, "-")
        await self.emitter.advance(token, [move], [], self.now_ms())

    def wake_targets(self, task: str) -> Iterable[str]:
        """Scheduled tasks a result of ``task`` may unblock: itself (overlap queue), its
        dependents, and the tasks sharing its capped window."""
        own = self.tasks.get(task)
        if own is not None and own.overlap == "queue":
            yield task
        yield from (d for d in self.dependents.get(task, ()) if d in self.schedules)
        window = self.catalog.windows.get(own.window) if own and own.window else None
        if window is not None and window.max_concurrent:
            yield from (n for n, s in self.schedules.items() if s.window == window)

    def now_ms(self) -> int:
        """The clock in epoch ms (scripts and decisions use it)."""
        return int(self.clock.time() * 1000)
