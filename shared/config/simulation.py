"""Schedule simulation (pure): every fire of every task over a range, conflicts marked.

Each slot goes through the scheduler's own planner (:func:`shared.config.planning.plan`)
at its fire time, so windows, calendars (holidays, early closes), cooldown, start/end
and dependencies are decided exactly as the scheduler decides them. Then the fired runs
are checked against capacity: a window's ``max_concurrent`` and the executor's resource
groups, each run lasting its ``timeout`` (the worst case the scheduler plans for), and
dependencies that cannot be met within the range. Nothing is read or written: the API
and ``watchkeeper schedule --config`` pass a config in and print what comes out.

Assumptions, stated so a reader can judge the answer: every upstream run succeeds at
its fire time; the task's ``paused`` state is the one passed in; retries are not shown.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from shared.config.catalog import Catalog
from shared.config.models import Config
from shared.config.planning import Facts, plan
from shared.contract.decisions import Outcome
from shared.timing.schedules import Schedule, fire_time, next_slot

MAX_FIRES: Final = 20_000
"""Most fires a simulation returns (the rest of the range is cut, ``truncated`` says so)."""
MAX_SPAN: Final = timedelta(days=31)
"""The longest range one simulation covers."""
UNKNOWN_GROUP_LIMIT: Final = 1
"""A resource group the config does not size is exclusive (the executor's rule)."""


@dataclass(slots=True, kw_only=True)
class SimFire:
    """One slot of one task: fired, or why not; ``conflicts`` are ids in the result."""

    task: str
    slot_ms: int
    at: float
    outcome: str
    cause: str | None = None
    reason: str = ""
    conflicts: list[int] = field(default_factory=list)

    def as_dict(self, tz: ZoneInfo) -> dict[str, Any]:
        """JSON-ready form with UTC and local times."""
        at = datetime.fromtimestamp(self.at, UTC)
        return {"task": self.task, "at": at.isoformat(), "local": at.astimezone(tz).isoformat(),
                "outcome": self.outcome, "cause": self.cause, "reason": self.reason,
                "conflicts": self.conflicts}  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class SimConflict:
    """Something that will not go as scheduled: ``kind`` is ``window_capacity``,
    ``resource`` or ``dependency``."""

    id: int
    kind: str
    at: float
    tasks: tuple[str, ...]
    message: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"id": self.id, "kind": self.kind,
                "at": datetime.fromtimestamp(self.at, UTC).isoformat(),
                "tasks": list(self.tasks), "message": self.message}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Simulation:
    """Fires in time order and the conflicts found."""

    fires: list[SimFire]
    conflicts: list[SimConflict]
    truncated: bool

    def as_dict(self, start: datetime, end: datetime, timezone: str) -> dict[str, Any]:
        """The JSON answer the API and ``watchkeeper schedule --from/--to`` both give."""
        tz = ZoneInfo(timezone)
        return {"from": start.isoformat(), "to": end.isoformat(), "timezone": timezone,
                "fires": [f.as_dict(tz) for f in self.fires],
                "conflicts": [c.as_dict() for c in self.conflicts],
                "truncated": self.truncated}  # fmt: skip


def range_problem(start: datetime, end: datetime) -> str | None:
    """What is wrong with ``[start, end]`` as a simulated range (said of ``to``), or None."""
    if end <= start:
        return "must be after 'from'"
    if end - start > MAX_SPAN:
        return f"must be at most {MAX_SPAN.days} days after 'from'"
    return None


def simulate(
    config: Config, start: datetime, end: datetime, *, paused: Iterable[str] = ()
) -> Simulation:
    """Every slot of every enabled, scheduled task in ``[start, end]``."""
    catalog = Catalog.from_config(config)
    schedules = {n: s for n, t in config.tasks.items() if (s := catalog.schedule(n, t))}
    stopped = frozenset(paused)
    fires: dict[str, list[SimFire]] = {}
    for name in _upstream_first(config, sorted(schedules)):
        upstream = {d: _fired_at(fires.get(d, [])) for d in config.tasks[name].depends_on}
        fires[name] = _walk(schedules[name], start, end, name in stopped, upstream)
    ordered = sorted((f for fs in fires.values() for f in fs), key=lambda f: (f.at, f.task))
    truncated = len(ordered) > MAX_FIRES
    ordered = ordered[:MAX_FIRES]
    conflicts = _conflicts(config, catalog, ordered, schedules, start.timestamp())
    return Simulation(ordered, conflicts, truncated)


def _upstream_first(config: Config, names: list[str]) -> list[str]:
    """``names`` with every task after the tasks it depends on (configs have no cycles;
    a cycle would only leave its order unspecified)."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        for dep in config.tasks[name].depends_on if name in config.tasks else ():
            visit(dep)
        order.append(name)

    for name in names:
        visit(name)
    wanted = set(names)
    return [n for n in order if n in wanted]


def _fired_at(fires: list[SimFire]) -> list[float]:
    return [f.at for f in fires if f.outcome == Outcome.FIRED]


def _walk(
    s: Schedule, start: datetime, end: datetime, paused: bool, upstream: Mapping[str, list[float]]
) -> list[SimFire]:
    out: list[SimFire] = []
    slot = next_slot(s, start.timestamp() * 1000 - 1)
    last: float | None = None
    while slot is not None and fire_time(s, slot) <= end.timestamp() and len(out) <= MAX_FIRES:
        at = fire_time(s, slot)
        facts = Facts(paused=paused, last_fired_at=last,
                      upstream_pending=_pending(upstream, last, at + s.grace_s))  # fmt: skip
        p = plan(s, slot, at, facts)
        if facts.upstream_pending and not p.fires:  # the planner defers; see it give up
            p = plan(s, slot, at + s.grace_s + 0.001, facts)
        out += [SimFire(task=s.task, slot_ms=f.slot_ms, at=f.at, outcome=Outcome.FIRED)
                for f in p.fires]  # fmt: skip
        out += [SimFire(task=s.task, slot_ms=int(d.slot), at=fire_time(s, int(d.slot)),
                        outcome=d.outcome, cause=d.cause, reason=d.reason)
                for d in p.decisions]  # fmt: skip
        last = p.fires[-1].at if p.fires else last
        slot = next_slot(s, slot)
    return out


def _pending(upstream: Mapping[str, list[float]], since: float | None, by: float) -> str | None:
    """The first upstream with no run after ``since`` up to ``by``: the scheduler would
    wait for it (it fires only after each upstream succeeded since its own last run)."""
    for name, times in upstream.items():
        if not any((since is None or t > since) and t <= by for t in times):
            return name
    return None


def _conflicts(
    config: Config, catalog: Catalog, fires: list[SimFire], schedules: Mapping[str, Schedule],
    start: float,
) -> list[SimConflict]:  # fmt: skip
    found: list[SimConflict] = []
    fired = [f for f in fires if f.outcome == Outcome.FIRED]
    for wname, window in catalog.windows.items():
        bound = [f for f in fired if config.tasks[f.task].window == wname]
        if window.max_concurrent is not None:
            _capacity(config, bound, window.max_concurrent, "window_capacity",
                      f"window {wname!r}", found)  # fmt: skip
    groups = {g for f in fired for g in config.tasks[f.task].resources}
    for group in sorted(groups):
        users = [f for f in fired if group in config.tasks[f.task].resources]
        limit = config.executor.resource_groups.get(group, UNKNOWN_GROUP_LIMIT)
        _capacity(config, users, limit, "resource", f"resource group {group!r}", found)
    found += _dependencies(config, fires, schedules, start, len(found))
    return found


def _capacity(
    config: Config, runs: list[SimFire], limit: int, kind: str, what: str,
    out: list[SimConflict],
) -> None:  # fmt: skip
    """Sweep runs (each lasting its task's timeout) and record each moment the number
    running at once goes over ``limit``; the run that tips it over is marked."""
    live: list[tuple[float, str]] = []
    for run in runs:  # in start order
        while live and live[0][0] <= run.at:
            heapq.heappop(live)
        heapq.heappush(live, (run.at + config.tasks[run.task].timeout, run.task))
        if len(live) == limit + 1:
            tasks = tuple(sorted({t for _, t in live}))
            conflict = SimConflict(
                id=len(out) + 1, kind=kind, at=run.at, tasks=tasks,
                message=f"{len(live)} runs at once in {what} (limit {limit}): "
                f"{', '.join(tasks)}; {run.task} would wait",
            )  # fmt: skip
            out.append(conflict)
            run.conflicts.append(conflict.id)


def _dependencies(
    config: Config, fires: list[SimFire], schedules: Mapping[str, Schedule], start: float,
    first_id: int,
) -> list[SimConflict]:  # fmt: skip
    """Upstreams that are missing, disabled or unscheduled, and slots skipped waiting."""
    found: list[SimConflict] = []
    for name in sorted(schedules):
        for dep in config.tasks[name].depends_on:
            why = _upstream_problem(config, dep, schedules)
            if why is not None:
                found.append(SimConflict(id=first_id + len(found) + 1, kind="dependency",
                                         at=start, tasks=(name, dep),
                                         message=f"{name} depends on {dep!r}, {why}"))  # fmt: skip
    for f in fires:
        if f.cause == "dependency":
            conflict = SimConflict(id=first_id + len(found) + 1, kind="dependency", at=f.at,
                                   tasks=(f.task,), message=f"{f.task}: {f.reason}")  # fmt: skip
            found.append(conflict)
            f.conflicts.append(conflict.id)
    return found


def _upstream_problem(config: Config, dep: str, schedules: Mapping[str, Schedule]) -> str | None:
    task = config.tasks.get(dep)
    if task is None:
        return "which is not defined"
    if not task.enabled:
        return "which is disabled: it never runs"
    if dep not in schedules:
        return "which has no schedule: it runs only when triggered"
    return None
