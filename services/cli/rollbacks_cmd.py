"""``watchkeeper rollbacks list|verify|restore|prune``: rollback points of file-changing runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import RenderableType

from services.cli.config import CONFIG_OPTION, cli_clock, load, with_redis
from services.cli.exits import CliError, NotFound
from services.cli.output import emit, make_table, output_option, stamp
from services.executor.rollback import RollbackStore
from shared.config.models import Config
from shared.contract.keys import Keys
from shared.runtime.redis import Redis
from shared.runtime.rollbacks import RollbackError, RollbackNotFound, RollbackPoint

T = TypeVar("T")


@click.group("rollbacks")
def rollbacks() -> None:
    """List, verify, restore and prune rollback points."""


def _store(config: Config, r: Redis) -> RollbackStore:
    return RollbackStore(r, Keys(config.namespace), Path(config.executor.rollback_dir), cli_clock())


def _on_store(config_path: str | None, work: Callable[[RollbackStore], Awaitable[T]]) -> T:
    config = load(config_path).config
    try:
        return with_redis(config, lambda r, _k: work(_store(config, r)), wait_s=5.0)
    except RollbackNotFound as exc:
        raise NotFound(str(exc)) from None
    except RollbackError as exc:
        raise CliError(str(exc)) from None


def _point_view(p: RollbackPoint) -> dict[str, Any]:
    return {"id": p.id, "task": p.task, "run_id": p.run_id, "created_at": p.created_at,
            "files": len(p.files), "bytes": p.total_bytes}  # fmt: skip


@rollbacks.command("list")
@CONFIG_OPTION
@click.option("--limit", default=50, show_default=True)
@output_option
def list_points(config_path: str | None, limit: int, output: str) -> None:
    """Rollback points, newest first."""
    points = [_point_view(p) for p in _on_store(config_path, lambda s: s.list(limit))]

    def table(_wide: bool) -> RenderableType:
        if not points:
            return "no rollback points"
        rows = [(p["id"], stamp(p["created_at"]), p["task"], p["run_id"], p["files"], p["bytes"])
                for p in points]  # fmt: skip
        return make_table(("ID", "CREATED", "TASK", "RUN", "FILES", "BYTES"), rows)

    emit(points, output, table)


@rollbacks.command("verify")
@CONFIG_OPTION
@click.argument("point_id")
def verify_point(config_path: str | None, point_id: str) -> None:
    """Check a point's preserved files against their sha256 (exit 1 on any problem)."""
    problems = _on_store(config_path, lambda s: s.verify(point_id))
    for problem in problems:
        click.echo(f"  {problem}")
    if problems:
        raise CliError(f"{point_id}: {len(problems)} problem(s); restore refused")
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
