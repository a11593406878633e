"""The leader's working set: task definitions, compiled schedules, paused tasks.

Everything here is derived from Redis (task defs, the paused set, the pending-slot
hash), so a standby that becomes leader rebuilds it with :meth:`Runtime.load` and
carries on from exactly where the previous leader stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, cast

from pydantic import ValidationError

from services.scheduler.definitions import Definitions
from services.scheduler.emitter import END, Emitter, Move, WritePipeline
from services.scheduler.kit import Kit, Kits, build
from shared.config.catalog import Catalog
from shared.config.models import Config, TaskConfig
from shared.config.priority import order_key
from shared.contract.keys import Keys
from shared.runtime.clock import Clock
from shared.runtime.collector import gc_paused
from shared.runtime.logging import get_logger
from shared.runtime.redis import Redis, text
from shared.timing.schedules import Schedule, fire_time, next_slot

log = get_logger("watchkeeper.scheduler")
Keep = Callable[[], Awaitable[None]]
"""Called while a long load runs (see :meth:`Runtime.load`)."""
LOAD_CHUNK: Final = 1000
"""Definitions read per HSCAN step of :meth:`Runtime.load` (each is parsed, compiled and
dropped before the next step: the stored JSON of every task is never held at once)."""
KITS_KEPT: Final = 16_384
"""Fire kits kept (about 0.4 KB each as bytes: 7-8 MB when full). More than the parsed
definitions kept: a kit is all a fire needs, and a cache smaller than the set of tasks
firing (10,000 schedules every 1-60 s) rebuilt one per fire (parse + build, ~50 µs)."""
SYNC_CHUNK: Final = 5000
"""First slots written per script call of a load (Redis writes one chunk while the next
is worked out)."""
Slots = dict[tuple[object, ...], tuple[str, str] | None]
"""First (fire time, slot) as written, or None when ended, by (trigger identity, start,
end): shared by the schedules of one load that have no jitter."""


@dataclass
class Runtime:
    """Shared state of one scheduler replica (only meaningful while it leads)."""

    r: Redis
    config: Config
    clock: Clock
    keys: Keys
    emitter: Emitter
    catalog: Catalog
    tasks: Definitions = field(default_factory=Definitions)
    schedules: dict[str, Schedule] = field(default_factory=dict)
    paused: set[str] = field(default_factory=set)
    dependents: dict[str, list[str]] = field(default_factory=dict)
    _upstreams: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """``depends_on`` of the tasks that have one (the dependents index is built from it
    without parsing every definition)."""
    version: int = 0
    """Bumped by every change a staged tick may not have seen (definitions, pauses,
    upstream results): the timer then plans again."""
    _order: dict[str, tuple[int, float]] = field(default_factory=dict)
    _order_keys: dict[tuple[int, float], tuple[int, float]] = field(default_factory=dict)
    kits: Kits = field(default_factory=lambda: Kits(KITS_KEPT))
    """Fire kits of the tasks fired lately (dropped when their definition changes)."""
    _facts_needed: set[str] = field(default_factory=set)
    """The tasks whose plan reads facts from Redis (cooldown, upstreams)."""

    async def load(self, token: str, keep: Keep | None = None) -> None:
        """Reload every definition and make the schedule zset match them.

        ``keep`` is awaited after every page of about :data:`LOAD_CHUNK` definitions
        (the scheduler renews its lease there: 100,000 definitions on a busy machine
        take longer than the lease lasts); it raises to abandon the load.
        """
        self.tasks, self.schedules, self._upstreams = Definitions(), {}, {}
        self._order, self._order_keys = {}, {}
        self.kits = Kits(KITS_KEPT)
        self._facts_needed = set()
        with gc_paused():
            await self._read_all(keep)
        self.paused = {text(m) for m in await self.r.smembers(self.keys.schedule_paused)}
        self._index_dependents()
        await self._sync(token)
        log.info("scheduler.loaded", tasks=len(self.tasks), scheduled=len(self.schedules))

    async def _read_all(self, keep: Keep | None) -> None:
        """Every stored definition, page by page (HSCAN); the next page is asked for
        while this one is parsed."""
        key = self.keys.taskdefs
        ask = asyncio.ensure_future(self.r.hscan(key, 0, count=LOAD_CHUNK))
        try:
            while True:
                cursor, page = cast(tuple[int, dict[bytes, bytes]], await ask)
                if cursor:
                    ask = asyncio.ensure_future(self.r.hscan(key, cursor, count=LOAD_CHUNK))
                for name, raw in page.items():
                    self._load_one(text(name), raw)
                if keep is not None:
                    await keep()
                if not cursor:
                    return
        finally:
            ask.cancel()  # abandoned part way (done: no effect)

    def order_key(self, name: str, task: TaskConfig | None = None) -> tuple[int, float]:
        """Emission order of ``name`` (priority, then score); unknown tasks go last.
        ``task`` is its definition when the caller holds it parsed."""
        key = self._order.get(name)
        if key is None:
            task = task or self.tasks.get(name)
            key = order_key(task) if task is not None else (9, 0.0)
            # Most tasks share a few keys: one tuple each, not one per task ever fired.
            key = self._order[name] = self._order_keys.setdefault(key, key)
        return key

    def fire_order(self, name: str) -> tuple[int, float]:
        """:meth:`order_key` of a task due to fire. One whose order is not known yet is
        parsed for it, and its kit is built from that parse: the tick needs the kit next,
        and a tick of more tasks than stay parsed would otherwise parse each one twice."""
        key = self._order.get(name)
        if key is not None:
            return key
        task = self.tasks.get(name)
        if task is not None and name in self.schedules:
            self.kit(name, task)
        return self.order_key(name, task)

    def needs_facts(self, name: str) -> bool:
        """Whether ``name``'s plan needs facts read from Redis (cooldown: its last fire;
        upstream results), known without its definition parsed or its kit built."""
        return name in self._facts_needed

    def kit(self, name: str, task: TaskConfig | None = None) -> Kit:
        """``name``'s fire kit (:mod:`~services.scheduler.kit`), built on first use (from
        ``task``, its definition, when the caller holds it parsed)."""
        kit = self.kits.get(name)
        if kit is None:
            task = task or self.tasks[name]
            kit = self.kits.put(build(name, task, self.keys, self.catalog.windows))
        return kit

    def _compile(self, name: str, task: TaskConfig | None) -> None:
        self.version += 1
        self._order.pop(name, None)
        self.kits.drop(name)
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
        for name, upstreams in self._upstreams.items():
            for upstream in upstreams:
                self.dependents.setdefault(upstream, []).append(name)

    async def _sync(self, token: str) -> None:
        """Give new schedules a first slot; drop slots of tasks no longer scheduled."""
        stored = {text(k) for k in await self.r.hkeys(self.keys.schedule_slots)}
        names: Any = await self.r.zrange(self.keys.schedule_next, 0, -1)
        zset = {text(k) for k in names}
        new = [n for n in self.schedules if n not in stored]
        ended = [Move(n, END) for n in (stored | zset) - set(self.schedules)]
        now_ms, slots = self.clock.time() * 1000, Slots()
        async with WritePipeline(self.emitter, token, self.now_ms) as pipe:
            for start in range(0, len(new), SYNC_CHUNK):
                chunk = new[start : start + SYNC_CHUNK]
                moves = self._first_moves(chunk, now_ms, slots)
                for call in self.emitter.pack((), moves):
                    await pipe.send(call)  # written while the next chunk is worked out
            for call in self.emitter.pack((), ended):
                await pipe.send(call)

    def first_move(self, name: str) -> Move:
        """Start ``name``'s schedule at its first slot after now (or end it)."""
        schedule = self.schedules[name]
        slot = next_slot(schedule, self.clock.time() * 1000)
        if slot is None:
            return Move(name, END)
        return Move(name, repr(fire_time(schedule, slot)), str(slot))

    def _first_moves(self, names: list[str], now_ms: float, slots: Slots) -> list[Move]:
        """:meth:`first_move` of each of ``names`` from ``now_ms``; schedules sharing a
        trigger (and start/end) share their next slot, worked out once (``slots``)."""
        moves = []
        for name in names:
            s = self.schedules[name]
            # By identity: the catalog hands identical specs one shared trigger object, and
            # a trigger holding a calendar (dicts of early closes) is not hashable.
            key = (id(s.trigger), s.start, s.end)
            if key not in slots:
                slot = next_slot(s, now_ms)
                slots[key] = None if slot is None else (repr(slot / 1000), str(slot))
            first = slots[key]
            if first is None:
                moves.append(Move(name, END))
            elif s.jitter_s:  # its own fire time within the slot's jitter
                moves.append(Move(name, repr(fire_time(s, int(first[1]))), first[1]))
            else:
                moves.append(Move(name, *first))
        return moves

    async def changed(self, token: str, stored: Mapping[str, bytes | None]) -> None:
        """Definitions changed: ``stored`` maps each task to its stored definition (None:
        deleted). Each changed one is recompiled and its schedule restarts from now.

        A definition equal to the one loaded is skipped without parsing, so the backlog
        of change events ``apply`` leaves behind costs one read per batch, not a parse
        (and an index rebuild) per event.
        """
        moves: list[Move] = []
        deps_changed = False
        for name, raw in stored.items():
            if self._unchanged(name, raw):
                continue
            old = self._upstreams.get(name, ())
            self._set(name, raw)
            deps_changed |= old != self._upstreams.get(name, ())
            moves.append(self.first_move(name) if name in self.schedules else Move(name, END))
        if deps_changed:
            self._index_dependents()
        await self.emitter.advance(token, moves, [], self.now_ms())

    def _unchanged(self, name: str, raw: bytes | None) -> bool:
        return name not in self.tasks if raw is None else self.tasks.same(name, raw)

    def _load_one(self, name: str, raw: bytes) -> None:
        """Load one stored definition; one that does not read (written by hand) is left
        out with an error, so that it cannot keep every replica from leading."""
        try:
            self._set(name, raw)
        except ValidationError as exc:
            problems = [
                f"{'.'.join(map(str, e['loc'])) or '(body)'}: {e['msg']}" for e in exc.errors()
            ]
            log.error("scheduler.bad_definition", task=name, problems=problems)

    def _set(self, name: str, raw: bytes | None) -> None:
        """Replace one definition (None deletes it) and recompile its schedule."""
        task = self.tasks.set(name, raw) if raw is not None else None
        if task is None:
            self.tasks.remove(name)
            self._upstreams.pop(name, None)
        elif task.depends_on:
            self._upstreams[name] = tuple(task.depends_on)
        else:
            self._upstreams.pop(name, None)
        if task is not None and (task.cooldown or task.depends_on):
            self._facts_needed.add(name)
        else:
            self._facts_needed.discard(name)
        self._compile(name, task)

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
