"""``watchkeeper run TASK``, ``trigger TASK`` and ``run-all``.

Each publishes trigger events (:mod:`services.cli.publish`); ``--wait``/``--watch``
follow the runs to their final results. ``run --dry-run`` acts on nothing and needs no
Redis: it validates the params and prints the actions the handler's planner returns.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import click
import yaml

from services.cli import api_backend
from services.cli.api_client import api_target, with_api
from services.cli.config import CONFIG_OPTION, cli_clock, load, with_redis
from services.cli.exits import CliError, NotFound
from services.cli.output import output_option
from services.cli.publish import Request, report, requester, send
from services.executor.handlers import registry
from services.executor.handlers.base import HandlerError, PlanFn, PlannedAction, RunContext
from shared.config import taskdefs
from shared.config.models import Config
from shared.contract.events import TriggerEmergency, TriggerRun
from shared.runtime.logging import get_logger

F = TypeVar("F", bound=Callable[..., Any])


def parse_params(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``k=v`` pairs; values are YAML scalars (``3``, ``true``, ``[a, b]``)."""
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not k=v", param_hint="--param")
        params[name] = yaml.safe_load(value)
    return params


def checked_params(config: Config, task: str, pairs: tuple[str, ...]) -> dict[str, Any]:
    """``--param`` pairs, refused (before anything is sent) unless the task lets a trigger
    set each of them; a task not in this config is left to the scheduler to judge."""
    params = parse_params(pairs)
    definition = config.tasks.get(task)
    refusal = definition.params_refusal(params) if definition is not None else None
    if refusal is not None:
        raise click.BadParameter(f"task {task!r}: {refusal}", param_hint="--param")
    return params


WAIT_OPTIONS = (
    click.option("--wait", is_flag=True, help="Wait for the final result; exit 1 on failure."),
    click.option("--watch", is_flag=True, help="Like --wait, showing progress on stderr."),
    click.option("--timeout", "timeout_s", default=600.0, show_default=True,
                 help="--wait limit (s)."),
    output_option,
)  # fmt: skip


def wait_options(command: F) -> F:
    """``--wait``, ``--watch``, ``--timeout`` and ``-o`` for the commands that request runs."""
    for option in reversed(WAIT_OPTIONS):
        command = option(command)
    return command


@click.command("run")
@CONFIG_OPTION
@click.argument("task")
@click.option("--param", "pairs", multiple=True, metavar="K=V", help="Override a param.")
@click.option(
    "--dry-run", is_flag=True, help="Print what the handler would change; act on nothing."
)
@click.option("--reason", default="requested from the CLI")
@wait_options
def run_command(
    config_path: str | None, task: str, pairs: tuple[str, ...], dry_run: bool, reason: str,
    wait: bool, watch: bool, timeout_s: float, output: str,
) -> None:  # fmt: skip
    """Run TASK now (publishes trigger.run), or with --dry-run print its plan."""
    config = load(config_path).config
    params = checked_params(config, task, pairs)
    if dry_run:
        _print_plan(config, task, params)
        return
    event = TriggerRun(task=task, params=params, reason=reason, requested_by=requester(),
                       correlation_id=uuid.uuid4().hex)  # fmt: skip
    _send_and_report(config, [event], wait or watch, watch, timeout_s, output)


@click.command("trigger")
@CONFIG_OPTION
@click.argument("task")
@click.option("--param", "pairs", multiple=True, metavar="K=V", help="Override a param.")
@click.option("--reason", required=True, help="Why this emergency run (kept with the run).")
@wait_options
def trigger_command(
    config_path: str | None, task: str, pairs: tuple[str, ...], reason: str, wait: bool,
    watch: bool, timeout_s: float, output: str,
) -> None:  # fmt: skip
    """Emergency run of TASK: critical stream, bypasses windows and cooldown."""
    config = load(config_path).config
    if task in config.tasks and not config.tasks[task].emergency:
        raise click.UsageError(f"task {task!r} does not allow emergency runs (emergency: false)")
    event = TriggerEmergency(
        task=task, params=checked_params(config, task, pairs), reason=reason,
        requested_by=requester(), correlation_id=uuid.uuid4().hex,
    )  # fmt: skip
    _send_and_report(config, [event], wait or watch, watch, timeout_s, output)


@click.command("run-all")
@CONFIG_OPTION
@click.option("--reason", default="run-all from the CLI")
@wait_options
def run_all_command(
    config_path: str | None, reason: str, wait: bool, watch: bool, timeout_s: float, output: str
) -> None:
    """Run every enabled task now (one trigger.run each, their own params)."""
    config = load(config_path).config
    target = api_target()
    if target is not None:
        sent, results = with_api(target, lambda api: api_backend.send_all(
            api, reason, wait=wait or watch, timeout_s=timeout_s))  # fmt: skip
        report(sent, results, output)
        return
    tasks = with_redis(config, lambda r, k: taskdefs.load_all(r, k))
    names = sorted(name for name, task in tasks.items() if task.enabled)
    if not names:
        raise NotFound("no enabled tasks in Redis (run `watchkeeper apply` first)")
    events = [TriggerRun(task=name, reason=reason, requested_by=requester(),
                         correlation_id=uuid.uuid4().hex) for name in names]  # fmt: skip
    results = send(config, events, wait=wait, watch=watch, timeout_s=timeout_s)
    report(events, results, output)


def _send_and_report(
    config: Config, events: list[Request], wait: bool, watch: bool, timeout_s: float, output: str
) -> None:
    """Send through the API (``--api``; ``--watch`` then only waits) or Redis, then report."""
    target = api_target()
    if target is None:
        results = send(config, events, wait=wait, watch=watch, timeout_s=timeout_s)
    else:
        events, results = with_api(target, lambda api: api_backend.send(
            api, events, wait=wait, timeout_s=timeout_s))  # fmt: skip
    report(events, results, output)


def _print_plan(config: Config, task: str, overrides: dict[str, Any]) -> None:
    if task not in config.tasks:
        raise NotFound(f"unknown task {task!r}")
    spec = registry.get(config.tasks[task].handler)
    if spec is None:
        raise CliError(f"task {task!r}: no handler named {config.tasks[task].handler!r}")
    if spec.plan is None:
        click.echo(f"{task}: handler {spec.name} changes no files; nothing to plan")
        return
    ctx = RunContext(run_id=f"dry-run-{uuid.uuid4().hex[:8]}", task=task, attempt=0,
                     clock=cli_clock(), log=get_logger("watchkeeper.cli").bind(task=task),
                     allowed_roots=tuple(config.executor.allowed_roots), dry_run=True)  # fmt: skip
    try:
        params = spec.parse_params({**config.tasks[task].params, **overrides})
        actions = asyncio.run(_plan(spec.plan, ctx, params))
    except HandlerError as exc:
        raise CliError(str(exc)) from None
    click.echo(format_plan(task, actions))


async def _plan(plan: PlanFn, ctx: RunContext, params: Any) -> list[PlannedAction]:
    return await plan(ctx, params)


def format_plan(task: str, actions: list[PlannedAction]) -> str:
    """The plan as lines ``action  path  [bytes]  detail`` and a summary."""
    lines = [f"{task}: {len(actions)} planned action(s), nothing done (dry run)"]
    for a in actions:
        size = f"  {a.bytes} B" if a.bytes else ""
        detail = f"  {a.detail}" if a.detail else ""
        lines.append(f"  {a.action:<8} {a.path}{size}{detail}")
    total = sum(a.bytes for a in actions)
    if total:
        lines.append(f"  total: {total} bytes")
    return "\n".join(lines)
