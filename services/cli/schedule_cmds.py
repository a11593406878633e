"""Scheduler commands: ``explain``, ``preview``, ``priority``, ``pause``, ``resume``."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from services.cli.config import CONFIG_OPTION, cli_clock, load, with_redis
from shared.config.catalog import PreviewFire, preview_spec, preview_task
from shared.config.models import Config
from shared.config.priority import breakdown
from shared.contract import decisions
from shared.contract.codec import encode
from shared.contract.events import TaskPaused, TaskResumed
from shared.contract.keys import Keys
from shared.contract.readmodel import ScheduleState
from shared.runtime.redis import Redis
from shared.timing.triggers import TriggerSpecError

T = TypeVar("T")


@click.command()
@CONFIG_OPTION
@click.argument("task")
@click.option("-n", "--count", default=20, show_default=True, help="How many decisions.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def explain(config_path: str | None, task: str, count: int, as_json: bool) -> None:
    """Why TASK's recent slots fired or did not (from {ns}:decisions:TASK)."""
    config = load(config_path).config
    records = with_redis(config, lambda r, k: decisions.recent(r, k, task, count))
    if as_json:
        click.echo(json.dumps([d.as_dict() for d in records], indent=2))
    elif not records:
        click.echo(f"no decisions recorded for {task!r} yet")
    for record in records if not as_json else ():
        click.echo(record.sentence())


@click.command()
@CONFIG_OPTION
@click.option("--task", help="A configured task.")
@click.option("--cron", help="A cron expression.")
@click.option("--every", help="An interval such as 5m.")
@click.option("--tz", help="Time zone for the spec and the local column.")
@click.option("--during", help="Only inside this calendar's sessions.")
@click.option("--after", help="Start after this ISO 8601 instant (default: now).")
@click.option("-n", "--count", default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def preview(
    config_path: str | None, task: str | None, cron: str | None, every: str | None,
    tz: str | None, during: str | None, after: str | None, count: int, as_json: bool,
) -> None:  # fmt: skip
    """The next fire times of a task or an ad-hoc schedule (UTC and local)."""
    config = load(config_path).config
    if sum(x is not None for x in (task, cron, every)) != 1:
        raise click.UsageError("give exactly one of --task, --cron, --every")
    start = _instant(after)
    try:
        fires = _preview(config, task, cron, every, during, start, count, tz)
    except (TriggerSpecError, ValueError, KeyError) as exc:
        raise click.ClickException(str(exc).strip("'\"")) from None
    _print_fires(fires, as_json)


def _preview(
    config: Config, task: str | None, cron: str | None, every: str | None,
    during: str | None, start: datetime, count: int, tz: str | None,
) -> list[PreviewFire]:  # fmt: skip
    if task is not None:
        if task not in config.tasks:
            raise KeyError(f"unknown task {task!r}")
        return preview_task(config, task, start, count, tz)
    spec: dict[str, Any] = {"cron": cron} if cron is not None else {"every": every}
    if tz:
        spec["timezone"] = tz
    if during:
        spec["during"] = during
    return preview_spec(config, spec, start, count, tz)


def _instant(after: str | None) -> datetime:
    if after is None:
        return cli_clock().now()
    try:
        t = datetime.fromisoformat(after)
    except ValueError:
        raise click.BadParameter(f"{after!r} is not ISO 8601", param_hint="--after") from None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _print_fires(fires: list[PreviewFire], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([f.as_dict() for f in fires], indent=2))
        return
    for f in fires:
        window = (
            "" if f.in_window is None else ("  in window" if f.in_window else "  outside window")
        )
        click.echo(f"{f.at:%Y-%m-%d %H:%M:%S}Z  {f.local:%Y-%m-%d %H:%M:%S %Z}{window}")


@click.command()
@CONFIG_OPTION
@click.argument("task")
def priority(config_path: str | None, task: str) -> None:
    """TASK's priority score with every term (impact, urgency, effort, success rate)."""
    config = load(config_path).config
    if task not in config.tasks:
        raise click.ClickException(f"unknown task {task!r}")
    rate = _success_rate(config, task)
    b = breakdown(config.tasks[task], rate)
    click.echo(f"{task}: score {b.score:.2f}")
    labels = {"effort": "effort (ease)"}
    history = f"  ({'no history' if rate is None else 'history'})"
    for name, value, weight in b.terms():
        note = history if name == "success_rate" else ""
        label = labels.get(name, name.replace("_", " "))
        click.echo(f"  {label:<13} {value:6.1f} × {weight:g} = {value * weight:6.2f}{note}")
    click.echo(f"  weighted sum  {b.weighted:.2f}")
    click.echo(f"  × category {b.category!r} {b.category_multiplier:g}"
               f" × priority {b.priority!r} {b.priority_adjustment:g} = {b.score:.2f}")  # fmt: skip


def _success_rate(config: Config, task: str) -> float | None:
    """The scheduler's tally of terminal results; None when Redis is unreachable or empty."""

    async def read(r: Redis, k: Keys) -> float | None:
        return ScheduleState.from_fields(await r.hgetall(k.schedule_state(task))).success_rate()

    try:
        return with_redis(config, read, wait_s=0.3)
    except click.ClickException:
        return None


def _control(event: TaskPaused | TaskResumed) -> Callable[[Redis, Keys], Awaitable[None]]:
    async def send(r: Redis, k: Keys) -> None:
        await r.xadd(k.control, encode(event))  # type: ignore[arg-type]

    return send


@click.command()
@CONFIG_OPTION
@click.argument("task")
@click.option("--reason", help="Recorded with the pause.")
def pause(config_path: str | None, task: str, reason: str | None) -> None:
    """Stop firing TASK's schedule until resumed (slots are recorded as skipped)."""
    config = load(config_path).config
    with_redis(config, _control(TaskPaused(task=task, reason=reason)))
    click.echo(f"pause requested for {task}")


@click.command()
@CONFIG_OPTION
@click.argument("task")
def resume(config_path: str | None, task: str) -> None:
    """Resume firing TASK's schedule."""
    config = load(config_path).config
    with_redis(config, _control(TaskResumed(task=task)))
    click.echo(f"resume requested for {task}")


COMMANDS = (explain, preview, priority, pause, resume)
"""Registered by ``services.cli.main``."""
