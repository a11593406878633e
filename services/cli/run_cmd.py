"""``watchkeeper run TASK`` (publish trigger.run, or print the plan) and ``rollbacks``.

``run`` publishes a ``trigger.run`` with a fresh correlation id; ``--wait`` follows the
results stream for the result carrying it. ``--dry-run`` acts on nothing and needs no
Redis: it validates the params and prints the actions the handler's planner returns.
"""

from __future__ import annotations

import asyncio
import getpass
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import yaml

from services.cli.config import CONFIG_OPTION, cli_clock, load, with_redis
from services.executor.handlers import registry
from services.executor.handlers.base import HandlerError, PlanFn, PlannedAction, RunContext
from services.executor.rollback import RollbackError, RollbackPoint, RollbackStore
from shared.config.models import Config
from shared.contract.codec import encode
from shared.contract.events import TaskResult, TriggerEmergency, TriggerRun
from shared.contract.keys import Keys
from shared.runtime.consume import follow
from shared.runtime.logging import get_logger
from shared.runtime.redis import Redis

T = TypeVar("T")


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


@click.command("run")
@CONFIG_OPTION
@click.argument("task")
@click.option("--param", "pairs", multiple=True, metavar="K=V", help="Override a param.")
@click.option(
    "--dry-run", is_flag=True, help="Print what the handler would change; act on nothing."
)
@click.option("--wait", is_flag=True, help="Wait for the run's result; exit 1 unless it succeeded.")
@click.option("--timeout", "timeout_s", default=600.0, show_default=True, help="--wait limit (s).")
@click.option("--reason", default="requested from the CLI")
def run_command(
    config_path: str | None, task: str, pairs: tuple[str, ...], dry_run: bool, wait: bool,
    timeout_s: float, reason: str,
) -> None:  # fmt: skip
    """Run TASK now (publishes trigger.run), or with --dry-run print its plan."""
    config = load(config_path).config
    params = checked_params(config, task, pairs)
    if dry_run:
        _print_plan(config, task, params)
        return
    event = TriggerRun(task=task, params=params, reason=reason, requested_by=f"cli:{_user()}",
                       correlation_id=uuid.uuid4().hex)  # fmt: skip
    _publish(config, event, wait, timeout_s)


@click.command("trigger")
@CONFIG_OPTION
@click.argument("task")
@click.option("--param", "pairs", multiple=True, metavar="K=V", help="Override a param.")
@click.option("--reason", required=True, help="Why this emergency run (kept with the run).")
@click.option("--wait", is_flag=True, help="Wait for the run's result; exit 1 unless it succeeded.")
@click.option("--timeout", "timeout_s", default=600.0, show_default=True, help="--wait limit (s).")
def trigger_command(
    config_path: str | None, task: str, pairs: tuple[str, ...], reason: str, wait: bool,
    timeout_s: float,
) -> None:  # fmt: skip
    """Emergency run of TASK: critical stream, bypasses windows and cooldown."""
    config = load(config_path).config
    if task in config.tasks and not config.tasks[task].emergency:
        raise click.ClickException(
            f"task {task!r} does not allow emergency runs (emergency: false)"
        )
    event = TriggerEmergency(
        task=task, params=checked_params(config, task, pairs), reason=reason,
        requested_by=f"cli:{_user()}", correlation_id=uuid.uuid4().hex,
    )  # fmt: skip
    _publish(config, event, wait, timeout_s)


def _publish(
    config: Config, event: TriggerRun | TriggerEmergency, wait: bool, timeout_s: float
) -> None:
    task = event.task
    result = with_redis(config, lambda r, k: _trigger(r, k, event, wait, timeout_s), wait_s=5.0)
    if result is None:
        click.echo(f"requested {task} (correlation id {event.correlation_id})")
        return
    click.echo(f"{result.task} {result.status}: {result.message} "
               f"(run {result.run_id}, {result.duration_s:.2f} s)")  # fmt: skip
    if result.status != "succeeded":
        raise SystemExit(1)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


async def _trigger(
    r: Redis, keys: Keys, event: TriggerRun | TriggerEmergency, wait: bool, timeout_s: float
) -> TaskResult | None:
    last: Any = await r.xrevrange(keys.results, count=1)
    since = last[0][0] if last else b"0-0"
    await r.xadd(keys.triggers, encode(event))  # type: ignore[arg-type]
    if not wait:
        return None
    try:
        async with asyncio.timeout(timeout_s):
            return await _result_for(r, keys, event.correlation_id or "", since)
    except TimeoutError:
        raise click.ClickException(f"no result within {timeout_s:g} s") from None


async def _result_for(r: Redis, keys: Keys, correlation_id: str, since: bytes) -> TaskResult:
    """The first result after ``since`` carrying ``correlation_id`` (bad entries are the
    reporter's to dead-letter; this observer only skips them)."""
    async for event in follow(r, keys, keys.results, since):
        if isinstance(event, TaskResult) and event.correlation_id == correlation_id:
            return event
    raise AssertionError("follow() never ends")


def _print_plan(config: Config, task: str, overrides: dict[str, Any]) -> None:
    if task not in config.tasks:
        raise click.ClickException(f"unknown task {task!r}")
    spec = registry.get(config.tasks[task].handler)
    if spec is None:
        raise click.ClickException(
            f"task {task!r}: no handler named {config.tasks[task].handler!r}"
        )
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
        raise click.ClickException(str(exc)) from None
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


# -- rollbacks ---------------------------------------------------------------------------


@click.group("rollbacks")
def rollbacks() -> None:
    """List, verify, restore and prune rollback points."""


def _store(config: Config, r: Redis) -> RollbackStore:
    return RollbackStore(r, Keys(config.namespace), Path(config.executor.rollback_dir), cli_clock())


def _on_store(config_path: str | None, work: Callable[[RollbackStore], Awaitable[T]]) -> T:
    config = load(config_path).config
    try:
        return with_redis(config, lambda r, _k: work(_store(config, r)), wait_s=5.0)
    except RollbackError as exc:
        raise click.ClickException(str(exc)) from None


def _describe(p: RollbackPoint) -> str:
    created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(p.created_at))
    return f"{p.id}  {created}Z  {p.task}  run={p.run_id}  files={len(p.files)}  {p.total_bytes} B"


@rollbacks.command("list")
@CONFIG_OPTION
@click.option("--limit", default=50, show_default=True)
def list_points(config_path: str | None, limit: int) -> None:
    """Rollback points, newest first."""
    points = _on_store(config_path, lambda s: s.list(limit))
    for p in points:
        click.echo(_describe(p))
    if not points:
        click.echo("no rollback points")


@rollbacks.command("verify")
@CONFIG_OPTION
@click.argument("point_id")
def verify_point(config_path: str | None, point_id: str) -> None:
    """Check a point's preserved files against their sha256 (exit 1 on any problem)."""
    problems = _on_store(config_path, lambda s: s.verify(point_id))
    for problem in problems:
        click.echo(f"  {problem}")
    if problems:
        raise click.ClickException(f"{point_id}: {len(problems)} problem(s); restore refused")
    click.echo(f"{point_id}: ok")


@rollbacks.command("restore")
@CONFIG_OPTION
@click.argument("point_id")
def restore_point(config_path: str | None, point_id: str) -> None:
    """Put the files of a point back exactly as they were (refused if tampered with)."""
    report = _on_store(config_path, lambda s: s.restore(point_id))
    click.echo(f"{point_id}: restored {len(report.restored)} file(s), "
               f"removed {len(report.removed)}")  # fmt: skip


@rollbacks.command("prune")
@CONFIG_OPTION
@click.option("--max-count", type=int, help="Keep at most this many (default from config).")
@click.option("--max-age", "max_age_s", type=float, help="Drop points older than this (s).")
@click.option("--max-bytes", type=int, help="Keep the total size under this.")
def prune_points(
    config_path: str | None, max_count: int | None, max_age_s: float | None, max_bytes: int | None
) -> None:
    """Delete points by age, count and total size (oldest first; the newest stays)."""
    config = load(config_path).config
    s = config.executor
    removed = _on_store(config_path, lambda store: store.prune(
        max_age_s=s.rollback_max_age if max_age_s is None else max_age_s,
        max_count=s.rollback_max_points if max_count is None else max_count,
        max_total_bytes=s.rollback_max_bytes if max_bytes is None else max_bytes,
    ))  # fmt: skip
    click.echo(f"pruned {len(removed)} rollback point(s)")
    for pid in removed:
        click.echo(f"  {pid}")
