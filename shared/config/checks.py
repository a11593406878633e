"""Semantic checks of a parsed config: references, schedules, cycles, window conflicts.

Each check yields ``(path, message)``; ``shared.config.loader`` adds line numbers.
:data:`DEFAULT_CHECKS` are errors (the config is refused); :func:`default_warnings` are
reported by ``watchkeeper validate`` but do not stop a deployment.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Final

from shared.config.models import Config
from shared.timing.calendar_spec import parse_calendar
from shared.timing.trigger_spec import parse_schedule, parse_trigger
from shared.timing.triggers.base import TriggerSpecError
from shared.timing.window_spec import parse_window

CONFLICT_HORIZON: Final = timedelta(days=14)
"""How far ahead window conflicts are looked for (two weeks covers weekly schedules)."""
POLICY_WHEN_KEYS: Final = frozenset(
    {"alert", "severity", "task", "status", "metric", "below", "above"}
)
"""Keys a policy's ``when`` may use (the scheduler's policy matcher reads these)."""

Problem = tuple[tuple[str | int, ...], str]
Check = Callable[[Config], Iterator[Problem]]


def check_references(config: Config) -> Iterator[Problem]:
    """Windows, dependencies and policy targets must name things that exist."""
    for name, task in config.tasks.items():
        if task.window is not None and task.window not in config.windows:
            yield ("tasks", name, "window"), f"unknown window {task.window!r}"
        for i, dep in enumerate(task.depends_on):
            if dep not in config.tasks:
                yield ("tasks", name, "depends_on", i), f"unknown task {dep!r}"
            elif dep == name:
                yield ("tasks", name, "depends_on", i), "a task cannot depend on itself"
        if task.start and task.end and task.end <= task.start:
            yield ("tasks", name, "end"), "end must be after start"
    for p, policy in enumerate(config.policies):
        for i, target in enumerate(policy.run):
            if target not in config.tasks:
                yield ("policies", p, "run", i), f"unknown task {target!r}"


def handler_check(known: Collection[str]) -> Callable[[Config], Iterator[Problem]]:
    """A check that every task names a registered handler."""

    def check(config: Config) -> Iterator[Problem]:
        for name, task in config.tasks.items():
            if task.handler not in known:
                choices = ", ".join(sorted(known))
                yield ("tasks", name, "handler"), f"unknown handler {task.handler!r} ({choices})"

    return check


def _schedule_path(task: str, index: int, count: int, key: str) -> tuple[str | int, ...]:
    base: tuple[str | int, ...] = ("tasks", task, "schedule")
    return (*base, key) if count == 1 else (*base, index, key)


def check_schedules(config: Config) -> Iterator[Problem]:
    """Every schedule entry parses into a trigger (cron ranges, zones, calendars, …)."""
    calendars = dict(_calendars(config))
    for name, task in config.tasks.items():
        for i, spec in enumerate(task.schedule):
            try:
                parse_trigger(spec, default_tz=config.timezone, calendars=calendars)
            except TriggerSpecError as exc:
                yield _schedule_path(name, i, len(task.schedule), exc.field), exc.message


def _calendars(config: Config) -> Iterator[tuple[str, Any]]:
    for name, spec in config.calendars.items():
        try:
            yield name, parse_calendar(name, spec)
        except ValueError:
            continue


def check_calendars_and_windows(config: Config) -> Iterator[Problem]:
    """Every calendar and window parses (sessions, hours, dates, time zones)."""
    for name, spec in config.calendars.items():
        try:
            parse_calendar(name, spec)
        except TriggerSpecError as exc:
            yield ("calendars", name, exc.field), exc.message
    for name, spec in config.windows.items():
        try:
            parse_window(name, spec, default_tz=config.timezone)
        except TriggerSpecError as exc:
            yield ("windows", name, exc.field), exc.message


def check_dependency_cycles(config: Config) -> Iterator[Problem]:
    """``depends_on`` must not form a cycle (the tasks would wait for each other forever)."""
    reported: set[frozenset[str]] = set()
    for name in config.tasks:
        cycle = _cycle_from(config, name, [])
        if cycle and frozenset(cycle) not in reported:
            reported.add(frozenset(cycle))
            yield ("tasks", name, "depends_on"), "dependency cycle: " + " → ".join(cycle)


def _cycle_from(config: Config, name: str, path: list[str]) -> list[str] | None:
    if name in path:
        return [*path[path.index(name) :], name]
    task = config.tasks.get(name)
    for dep in task.depends_on if task is not None else ():
        if dep != name and (cycle := _cycle_from(config, dep, [*path, name])):
            return cycle
    return None


def check_task(config: Config, name: str) -> list[Problem]:
    """Problems of task ``name`` within ``config`` (its references, schedule, and any
    dependency cycle), for an edit of one definition (the API's create/update)."""
    own = ("tasks", name)
    found = [p for p in check_references(config) if p[0][:2] == own]
    found += [p for p in check_schedules(config) if p[0][:2] == own]
    found += list(check_dependency_cycles(config))
    return found


def check_policies(config: Config) -> Iterator[Problem]:
    """Policy conditions use known keys (a typo would make a rule never match)."""
    for p, policy in enumerate(config.policies):
        for key in sorted(set(policy.when) - POLICY_WHEN_KEYS):
            known = ", ".join(sorted(POLICY_WHEN_KEYS))
            yield ("policies", p, "when", key), f"unknown condition {key!r} ({known})"


def check_window_conflicts(config: Config, *, now: datetime) -> Iterator[Problem]:
    """Warn when the tasks bound to a window can run more at once than its
    ``max_concurrent`` (fires within two weeks after ``now``, each running for its timeout)."""
    start = now
    for wname, spec in config.windows.items():
        try:
            window = parse_window(wname, spec, default_tz=config.timezone)
            at, live = _peak(list(_window_runs(config, window, start)))
        except TriggerSpecError:
            continue  # reported as an error by the other checks
        if window.max_concurrent is not None and len(live) > window.max_concurrent:
            yield (
                ("windows", wname, "max_concurrent"),
                (
                    f"{len(live)} runs can overlap at {at.isoformat()} ({', '.join(sorted(live))}) "
                    f"but max_concurrent is {window.max_concurrent}: some will be deferred"
                ),
            )


def _window_runs(
    config: Config, window: Any, start: datetime
) -> Iterator[tuple[datetime, datetime, str]]:
    calendars = dict(_calendars(config))
    for name, task in config.tasks.items():
        if task.window != window.name or not task.enabled or not task.schedule:
            continue
        trigger = parse_schedule(task.schedule, default_tz=config.timezone, calendars=calendars)
        for fire in _fires(trigger, start):
            if window.contains(fire):
                yield fire, fire + timedelta(seconds=task.timeout), name


def _fires(trigger: Any, start: datetime) -> Iterator[datetime]:
    t: datetime | None = start
    for _ in range(2000):
        t = trigger.next_fire_after(t)
        if t is None or t > start + CONFLICT_HORIZON:
            return
        yield t


def _peak(runs: list[tuple[datetime, datetime, str]]) -> tuple[datetime, set[str]]:
    """The instant most runs overlap, and the tasks running then."""
    best: tuple[datetime, set[str]] = (datetime.min.replace(tzinfo=UTC), set())
    for at, _, _ in runs:
        live = {name for s, e, name in runs if s <= at < e}
        if len(live) > len(best[1]):
            best = (at, live)
    return best


DEFAULT_CHECKS: tuple[Check, ...] = (
    check_references,
    check_calendars_and_windows,
    check_schedules,
    check_dependency_cycles,
    check_policies,
)
"""Checks whose problems make a config invalid."""


def default_warnings(now: datetime) -> tuple[Check, ...]:
    """Checks whose problems are reported as warnings, looking ahead from ``now`` (the
    caller's clock: this module reads none)."""
    return (partial(check_window_conflicts, now=now),)
