"""Semantic checks of a parsed config: references between sections and schedules.

Each check yields ``(path, message)``; ``shared.config_loader`` adds line numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from typing import Any

from shared.config import Config

Problem = tuple[tuple[str | int, ...], str]


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
    from shared.triggers.parse import TriggerSpecError, parse_trigger

    calendars = dict(_calendars(config))
    for name, task in config.tasks.items():
        for i, spec in enumerate(task.schedule):
            try:
                parse_trigger(spec, default_tz=config.timezone, calendars=calendars)
            except TriggerSpecError as exc:
                yield _schedule_path(name, i, len(task.schedule), exc.field), exc.message


def _calendars(config: Config) -> Iterator[tuple[str, Any]]:
    from shared.calendars import parse_calendar

    for name, spec in config.calendars.items():
        try:
            yield name, parse_calendar(name, spec)
        except ValueError:
            continue


DEFAULT_CHECKS = (check_references,)
