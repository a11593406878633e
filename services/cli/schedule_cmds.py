"""Scheduler commands: ``explain``, ``preview``, ``priority``."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import RenderableType
from rich.text import Text

from services.cli import api_backend
from services.cli.api_client import ApiClient
from services.cli.config import CONFIG_OPTION, cli_clock, load, with_backend
from services.cli.exits import NotFound, Unreachable
from services.cli.output import emit, output_option
from services.cli.publish import known_tasks
from shared.config.catalog import PreviewFire, preview_spec, preview_task
from shared.config.models import Config
from shared.config.priority import Breakdown, breakdown
from shared.contract import decisions
from shared.contract.keys import Keys
from shared.contract.readmodel import ScheduleState
from shared.runtime.redis import Redis
from shared.timing.triggers import TriggerSpecError


@click.command()
@CONFIG_OPTION
@click.argument("task")
@click.option("-n", "--count", default=20, show_default=True, help="How many decisions.")
@output_option
def explain(config_path: str | None, task: str, count: int, output: str) -> None:
    """Why TASK's recent slots fired or did not (from {ns}:decisions:TASK)."""
    config = load(config_path).config

    async def read(r: Redis, k: Keys) -> list[decisions.Decision]:
        found = await decisions.recent(r, k, task, count)
        if not found and task not in await known_tasks(r, k, config):
            raise NotFound(f"unknown task {task!r}")
        return found

    async def via_api(api: ApiClient) -> list[decisions.Decision]:
        path = f"{api_backend.task_path(task)}/decisions"
        found = await api.request("GET", path, params={"count": count}, missing_ok=True)
        if found is None and task not in config.tasks:  # the file's tasks count, as above
            raise NotFound(f"unknown task {task!r}")
        return [decisions.Decision.from_dict(d) for d in (found or {}).get("decisions", [])]

    records = with_backend(config, read, via_api)

    def table(_wide: bool) -> RenderableType:
        if not records:
            return Text(f"no decisions recorded for {task!r} yet")
        return Text("\n".join(record.sentence() for record in records))

    emit([d.as_dict() for d in records], output, table)


@click.command()
@CONFIG_OPTION
@click.option("--task", help="A configured task.")
@click.option("--cron", help="A cron expression.")
@click.option("--every", help="An interval such as 5m.")
@click.option("--tz", help="Time zone for the spec and the local column.")
@click.option("--during", help="Only inside this calendar's sessions.")
@click.option("--after", help="Start after this ISO 8601 instant (default: now).")
@click.option("-n", "--count", default=10, show_default=True)
@output_option
def preview(
    config_path: str | None, task: str | None, cron: str | None, every: str | None,
    tz: str | None, during: str | None, after: str | None, count: int, output: str,
) -> None:  # fmt: skip
    """The next fire times of a task or an ad-hoc schedule (UTC and local)."""
    config = load(config_path).config
    if sum(x is not None for x in (task, cron, every)) != 1:
        raise click.UsageError("give exactly one of --task, --cron, --every")
    start = _instant(after)
    if task is not None and task not in config.tasks:
        raise NotFound(f"unknown task {task!r}")
    try:
        fires = _preview(config, task, cron, every, during, start, count, tz)
    except (TriggerSpecError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    emit([f.as_dict() for f in fires], output, lambda _w: _fires_text(fires))


def _preview(
    config: Config, task: str | None, cron: str | None, every: str | None,
    during: str | None, start: datetime, count: int, tz: str | None,
) -> list[PreviewFire]:  # fmt: skip
    if task is not None:
        return preview_task(config, task, start, count, tz)
    spec: dict[str, Any] = {"cron": cron} if cron is not None else {"every": every}
    if tz:
        spec["timezone"] = tz
    if during:
        spec["during"] = during
    return preview_spec(config, spec, start, count, tz)


def _instant(after: str | None) -> datetime:
    return cli_clock().now() if after is None else parse_instant(after, "--after")


def parse_instant(value: str, hint: str) -> datetime:
    """An ISO 8601 date or instant given to option ``hint``; without an offset it is UTC
    (as in the API). Not ISO 8601: a usage error naming the option."""
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not ISO 8601", param_hint=hint) from None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _fires_text(fires: list[PreviewFire]) -> Text:
    lines = []
    for f in fires:
        window = (
            "" if f.in_window is None else ("  in window" if f.in_window else "  outside window")
        )
        lines.append(f"{f.at:%Y-%m-%d %H:%M:%S}Z  {f.local:%Y-%m-%d %H:%M:%S %Z}{window}")
    return Text("\n".join(lines))


@click.command()
@CONFIG_OPTION
@click.argument("task")
@output_option
def priority(config_path: str | None, task: str, output: str) -> None:
    """TASK's priority score with every term (impact, urgency, effort, success rate)."""
    config = load(config_path).config
    if task not in config.tasks:
        raise NotFound(f"unknown task {task!r}")
    rate = _success_rate(config, task)
    b = breakdown(config.tasks[task], rate)
    data = {"task": task, **dataclasses.asdict(b), "history": rate is not None,
            "terms": [{"factor": n, "value": v, "weight": w} for n, v, w in b.terms()]}  # fmt: skip
    emit(data, output, lambda _w: Text("\n".join(_priority_lines(task, b, rate))))


def _priority_lines(task: str, b: Breakdown, rate: float | None) -> list[str]:
    lines = [f"{task}: score {b.score:.2f}"]
    labels = {"effort": "effort (ease)"}
    history = f"  ({'no history' if rate is None else 'history'})"
    for name, value, weight in b.terms():
        note = history if name == "success_rate" else ""
        label = labels.get(name, name.replace("_", " "))
        lines.append(f"  {label:<13} {value:6.1f} × {weight:g} = {value * weight:6.2f}{note}")
    lines.append(f"  weighted sum  {b.weighted:.2f}")
    lines.append(f"  × category {b.category!r} {b.category_multiplier:g}"
                 f" × priority {b.priority!r} {b.priority_adjustment:g}"
                 f" = {b.score:.2f}")  # fmt: skip
    return lines


def _success_rate(config: Config, task: str) -> float | None:
    """The scheduler's tally of terminal results; None when Redis (or the API) is
    unreachable or has none."""

    async def read(r: Redis, k: Keys) -> float | None:
        return ScheduleState.from_fields(await r.hgetall(k.schedule_state(task))).success_rate()

    async def via_api(api: ApiClient) -> float | None:
        rows = await api_backend.task_rows(api, only=task)
        return rows[0].state.success_rate() if rows else None

    try:
        return with_backend(config, read, via_api, wait_s=0.3)
    except Unreachable:  # a refused token still says so
        return None


COMMANDS = (explain, preview, priority)
"""Registered by ``services.cli.main``."""
