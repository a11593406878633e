"""``watchkeeper rollbacks list|verify|restore|prune``: rollback points of file-changing runs.

The points' files live in ``executor.rollback_dir`` on the executor's host: on Redis the
CLI must run there; with ``--api`` the API's process reads and restores them (it must
run there instead), through ``/api/v1/rollbacks``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import click
from rich.console import RenderableType

from services.cli.api_client import ApiClient
from services.cli.config import CONFIG_OPTION, cli_clock, load, with_backend
from services.cli.exits import CliError, NotFound
from services.cli.output import emit, make_table, output_option, stamp
from services.cli.publish import requester
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


def _on_store(
    config_path: str | None, work: Callable[[RollbackStore], Awaitable[T]],
    via_api: Callable[[ApiClient], Awaitable[T]],
) -> T:  # fmt: skip
    config = load(config_path).config
    try:
        return with_backend(config, lambda r, _k: work(_store(config, r)), via_api, wait_s=5.0)
    except RollbackNotFound as exc:
        raise NotFound(str(exc)) from None
    except RollbackError as exc:
        raise CliError(str(exc)) from None


def _point_view(p: RollbackPoint) -> dict[str, Any]:
    return _row(p.id, p.task, p.run_id, p.created_at, len(p.files), p.total_bytes)


def _api_view(p: dict[str, Any]) -> dict[str, Any]:
    """A point as the API shows it, as ``list`` shows it."""
    return _row(p["id"], p["task"], p["run_id"], p["created_at"], len(p["files"]),
                p["total_bytes"])  # fmt: skip


def _row(*values: Any) -> dict[str, Any]:
    return dict(zip(("id", "task", "run_id", "created_at", "files", "bytes"), values, strict=True))


def _path(point_id: str, action: str) -> str:
    return f"/api/v1/rollbacks/{quote(point_id, safe='')}/{action}"


@rollbacks.command("list")
@CONFIG_OPTION
@click.option("--limit", default=50, show_default=True)
@output_option
def list_points(config_path: str | None, limit: int, output: str) -> None:
    """Rollback points, newest first."""

    async def list_via_api(api: ApiClient) -> list[dict[str, Any]]:
        return [_api_view(p) for p in (await api.get("/api/v1/rollbacks", limit=limit))["items"]]

    async def read(store: RollbackStore) -> list[dict[str, Any]]:
        return [_point_view(p) for p in await store.list(limit)]

    points = _on_store(config_path, read, list_via_api)

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

    async def via_api(api: ApiClient) -> list[str]:
        return list((await api.post(_path(point_id, "verify")))["problems"])

    problems = _on_store(config_path, lambda s: s.verify(point_id), via_api)
    for problem in problems:
        click.echo(f"  {problem}")
    if problems:
        raise CliError(f"{point_id}: {len(problems)} problem(s); restore refused")
    click.echo(f"{point_id}: ok")


@rollbacks.command("restore")
@CONFIG_OPTION
@click.argument("point_id")
@click.option("--reason", default="restored with `watchkeeper rollbacks restore`",
              show_default=True, help="Why (recorded with the point).")  # fmt: skip
def restore_point(config_path: str | None, point_id: str, reason: str) -> None:
    """Put the files of a point back exactly as they were (refused if tampered with)."""

    async def work(store: RollbackStore) -> tuple[int, int]:
        done = await store.restore(point_id, reason=reason, by=requester())
        return len(done.restored), len(done.removed)

    async def via_api(api: ApiClient) -> tuple[int, int]:
        done = await api.post(_path(point_id, "restore"), {"reason": reason})
        return len(done["restored"]), len(done["removed"])

    restored, removed = _on_store(config_path, work, via_api)
    click.echo(f"{point_id}: restored {restored} file(s), removed {removed}")


@rollbacks.command("prune")
@CONFIG_OPTION
@click.option("--max-count", type=int, help="Keep at most this many (default from config).")
@click.option("--max-age", "max_age_s", type=float, help="Drop points older than this (s).")
@click.option("--max-bytes", type=int, help="Keep the total size under this.")
def prune_points(
    config_path: str | None, max_count: int | None, max_age_s: float | None, max_bytes: int | None
) -> None:
    """Delete points by age, count and total size (oldest first; the newest stays).

    Limits not given are the config's: this file's on Redis, the API's with --api."""
    config = load(config_path).config
    s = config.executor
    given = {"max_age": max_age_s, "max_count": max_count, "max_bytes": max_bytes}

    async def via_api(api: ApiClient) -> list[str]:
        body = {k: v for k, v in given.items() if v is not None}
        return list((await api.post("/api/v1/rollbacks/prune", body))["removed"])

    removed = _on_store(config_path, lambda store: store.prune(
        max_age_s=s.rollback_max_age if max_age_s is None else max_age_s,
        max_count=s.rollback_max_points if max_count is None else max_count,
        max_total_bytes=s.rollback_max_bytes if max_bytes is None else max_bytes,
    ), via_api)  # fmt: skip
    click.echo(f"pruned {len(removed)} rollback point(s)")
    for pid in removed:
        click.echo(f"  {pid}")
