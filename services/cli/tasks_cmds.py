"""``watchkeeper tasks list|show|enable|disable|pause|resume|delete`` (and top-level
``pause``/``resume``).

The tasks are the definitions in Redis (what the scheduler runs), not the file: the API
edits them too. Enable, disable and delete go through :mod:`shared.config.taskdefs`,
which tells the scheduler with a ``control.task_changed`` event; pause and resume are
control events the scheduler records as decisions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import click
from rich.console import RenderableType

from services.cli import api_backend
from services.cli.api_client import ApiClient, api_target, with_api
from services.cli.config import CONFIG_OPTION, cli_clock, load, with_backend, with_redis
from services.cli.exits import NotFound
from services.cli.output import emit, make_table, output_option, stamp, styled_status
from services.cli.publish import known_tasks
from services.cli.snapshot import TaskRow, task_rows
from shared.config import taskdefs
from shared.config.catalog import Catalog, preview_schedule
from shared.config.models import Config
from shared.contract.codec import encode
from shared.contract.events import TaskPaused, TaskResumed
from shared.contract.keys import Keys
from shared.runtime.redis import Redis
from shared.timing.triggers import TriggerSpecError


@click.group("tasks")
def tasks() -> None:
    """List and manage the task definitions in Redis."""


@tasks.command("list")
@CONFIG_OPTION
@output_option
def list_tasks(config_path: str | None, output: str) -> None:
    """Every task with its schedule, state, next fire and last outcome."""
    config = load(config_path).config
    rows = with_backend(config, lambda r, k: task_rows(r, k), api_backend.task_rows)
    emit([row.as_dict() for row in rows], output, lambda wide: _list_table(rows, wide))


def _list_table(rows: list[TaskRow], wide: bool) -> RenderableType:
    if not rows:
        return "no tasks in Redis (run `watchkeeper apply`)"
    columns = ["TASK", "HANDLER", "STATE", "NEXT FIRE", "LAST", "LAST RUN"]
    if wide:
        columns += ["PRIORITY", "RUNS", "FAILURES", "SCHEDULE"]
    table = []
    for row in rows:
        d = row.as_dict()
        cells = [row.name, d["handler"], _state_word(d), stamp(d["next_fire"]),
                 styled_status(d["last_status"]), stamp(d["last_run_at"])]  # fmt: skip
        if wide:
            cells += [d["priority"], d["runs"], d["failures"], d["schedule"]]
        table.append(cells)
    return make_table(columns, table)


def _state_word(d: dict[str, Any]) -> str:
    return "disabled" if not d["enabled"] else "paused" if d["paused"] else "active"


@tasks.command("show")
@CONFIG_OPTION
@click.argument("task")
@click.option("-n", "--next", "count", default=5, show_default=True, help="Next fires shown.")
@output_option
def show_task(config_path: str | None, task: str, count: int, output: str) -> None:
    """One task: its full definition, schedule state and next fire times."""
    config = load(config_path).config
    rows = with_backend(config, lambda r, k: task_rows(r, k, only=task),
                        lambda api: api_backend.task_rows(api, only=task))  # fmt: skip
    if not rows:
        raise NotFound(f"unknown task {task!r}")
    row = rows[0]
    definition = row.definition.model_dump(mode="json", by_alias=True)
    data = {**row.as_dict(), "definition": definition, "state": row.state.to_fields(),
            "next_fires": _next_fires(config, row, count)}  # fmt: skip
    emit(data, output, lambda _w: _show_view(data))


def _next_fires(config: Config, row: TaskRow, count: int) -> list[str]:
    """The next fires computed from the stored definition with this config's calendars
    and windows (none when it names one this config lacks)."""
    try:
        schedule = Catalog.from_config(config).schedule(row.name, row.definition)
        if schedule is None:
            return []
        fires = preview_schedule(schedule, cli_clock().now(), count, config.timezone)
    except (TriggerSpecError, ValueError, KeyError):
        return []
    return [f.at.isoformat() for f in fires]


def _show_view(data: dict[str, Any]) -> RenderableType:
    facts = [(name, data[name]) for name in ("name", "handler", "schedule", "window", "priority")]
    facts += [("state", _state_word(data)), ("last status", data["last_status"]),
              ("last run", stamp(data["last_run_at"])),
              ("runs / failures", f"{data['runs']} / {data['failures']}"),
              ("next fires", ", ".join(data["next_fires"]) or "-"),
              ("params", data["definition"]["params"] or "-")]  # fmt: skip
    return make_table(("FIELD", "VALUE"), facts)


def _definition_change(
    config_path: str | None, task: str, work: Callable[[Redis, Keys], Awaitable[bool]], done: str,
    via_api: Callable[[ApiClient], Awaitable[None]],
) -> None:  # fmt: skip
    config = load(config_path).config
    target = api_target()
    if target is not None:
        with_api(target, via_api)  # an unknown task is a 404: exit 3 like below
    elif not with_redis(config, work):
        raise NotFound(f"unknown task {task!r}")
    click.echo(f"{task}: {done}")


def _switch(name: str, enabled: bool, doc: str) -> click.Command:
    """``tasks enable``/``tasks disable``: the same change with the flag set either way."""

    @tasks.command(name, help=doc)
    @CONFIG_OPTION
    @click.argument("task")
    def command(config_path: str | None, task: str) -> None:
        async def work(r: Redis, k: Keys) -> bool:
            return await taskdefs.set_enabled(r, k, task, enabled) is not None

        _definition_change(config_path, task, work, f"{name}d",
                           lambda api: api_backend.task_action(api, task, name))  # fmt: skip

    return command


enable_task = _switch(
    "enable", True, "Schedule TASK again (the scheduler recomputes its next fire)."
)
disable_task = _switch("disable", False, "Stop scheduling TASK (definition and history kept; "
                       "`apply` of a file that says enabled turns it back on).")  # fmt: skip


@tasks.command("delete")
@CONFIG_OPTION
@click.argument("task")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete_task(config_path: str | None, task: str, yes: bool) -> None:
    """Delete TASK's definition from Redis (history and metrics stay until they expire)."""
    if not yes:
        click.confirm(f"delete task {task!r}?", abort=True, err=True)

    async def work(r: Redis, k: Keys) -> bool:
        return await taskdefs.delete(r, k, task)

    _definition_change(config_path, task, work, "deleted",
                       lambda api: api_backend.delete_task(api, task))  # fmt: skip


def _control(config: Config, event: TaskPaused | TaskResumed) -> None:
    target = api_target()
    if target is not None:
        action, body = (
            ("pause", {"reason": event.reason})
            if isinstance(event, TaskPaused)
            else ("resume", None)
        )
        with_api(target, lambda api: api_backend.task_action(api, event.task, action, body))
        return

    async def send(r: Redis, k: Keys) -> None:
        if event.task not in await known_tasks(r, k, config):
            raise NotFound(f"unknown task {event.task!r}")
        await r.xadd(k.control, encode(event))  # type: ignore[arg-type]

    with_redis(config, send)


@click.command()
@CONFIG_OPTION
@click.argument("task")
@click.option("--reason", help="Recorded with the pause.")
def pause(config_path: str | None, task: str, reason: str | None) -> None:
    """Stop firing TASK's schedule until resumed (slots are recorded as skipped)."""
    _control(load(config_path).config, TaskPaused(task=task, reason=reason))
    click.echo(f"pause requested for {task}")


@click.command()
@CONFIG_OPTION
@click.argument("task")
def resume(config_path: str | None, task: str) -> None:
    """Resume firing TASK's schedule."""
    _control(load(config_path).config, TaskResumed(task=task))
    click.echo(f"resume requested for {task}")


tasks.add_command(pause)
tasks.add_command(resume)
