"""``backup``: files, Redis keys and PostgreSQL tables into one verified tar.gz.

The archive ``<dest>/<name>-<run>.tar.gz`` (``.enc`` appended when encrypted) holds the
members and a manifest with a sha256 per member (see :mod:`.archive`); the manifest is
also kept as the run's artifact and its sha256 is in the result, so a restore can insist
on exactly this backup. With ``key_env`` the archive is AES-256-GCM encrypted
(:mod:`.archive_crypto`). The archive is built in a work folder beside it and renamed
into place whole. Retention then deletes this task's older archives in ``dest``: all
but the newest ``keep`` and those older than ``keep_days``; it never deletes the archive
just made.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.executor.handlers import archive, backup_sources
from services.executor.handlers.archive_crypto import encrypt_file, key_from_env
from services.executor.handlers.backup_sources import RedisItem, TableName
from services.executor.handlers.base import HandlerError, Outcome, PlannedAction, RunContext
from services.executor.handlers.fspaths import SafeGlob, SafePath, confine
from services.executor.handlers.gzipping import fsync_dir
from services.executor.handlers.registry import handler
from services.executor.safety import iter_files
from shared.config.models import Duration

ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"


class FileSource(BaseModel):
    """Files under ``root`` matching ``glob`` (as in ``data_cleanup``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    root: SafePath
    glob: SafeGlob = "*"


class PostgresSource(BaseModel):
    """Tables to COPY; the DSN is read from the environment variable ``dsn_env``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    dsn_env: str = Field("DATABASE_URL", pattern=ENV_NAME)
    tables: list[TableName] = Field(min_length=1)


class BackupParams(BaseModel):
    """Where archives go, what they hold, encryption and retention."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    dest: SafePath
    name: str = Field("backup", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    files: list[FileSource] = Field(default_factory=list)
    redis_patterns: list[str] = Field(default_factory=list)
    postgres: PostgresSource | None = None
    key_env: str | None = Field(None, pattern=ENV_NAME)
    keep: int | None = Field(None, ge=1)
    keep_days: Duration | None = None

    @model_validator(mode="after")
    def _has_a_source(self) -> BackupParams:
        if not (self.files or self.redis_patterns or self.postgres):
            raise ValueError("name at least one of files, redis_patterns, postgres")
        return self


@dataclass(frozen=True, slots=True)
class Layout:
    """Where this run's archive goes and which older archives retention removes."""

    dest: Path
    archive: Path
    expired: list[Path]


def archive_name(params: BackupParams, run_id: str) -> str:
    """The archive's file name for this run (a retried attempt replaces its own)."""
    suffix = ".tar.gz.enc" if params.key_env else ".tar.gz"
    slug = re.sub(r"[^A-Za-z0-9._-]", "_", run_id)[:120]
    return f"{params.name}-{slug}{suffix}"


def _older_archives(dest: Path, params: BackupParams, current: Path) -> list[Path]:
    """This task's archives in ``dest`` other than ``current``, newest first."""
    pattern = re.compile(rf"^{re.escape(params.name)}-.+\.tar\.gz(\.enc)?$")
    found = [p for p in dest.iterdir() if pattern.match(p.name) and p.is_file()
             and not p.is_symlink() and p != current] if dest.is_dir() else []  # fmt: skip
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name), reverse=True)


def expired(older: list[Path], mtimes: list[float], params: BackupParams, now: float) -> list[Path]:
    """Which of ``older`` (newest first) retention removes; the new archive counts for keep."""
    doomed = []
    for n, (path, mtime) in enumerate(zip(older, mtimes, strict=True)):
        too_many = params.keep is not None and n + 1 >= params.keep
        too_old = params.keep_days is not None and now - mtime > params.keep_days
        if too_many or too_old:
            doomed.append(path)
    return doomed


def layout(params: BackupParams, ctx: RunContext) -> Layout:
    """Resolve every path of the run, sources included (blocking)."""
    for source in params.files:
        confine(source.root, ctx.allowed_roots)
    dest = confine(params.dest, ctx.allowed_roots)
    target = dest / archive_name(params, ctx.run_id)
    older = _older_archives(dest, params, target)
    mtimes = [p.stat().st_mtime for p in older]
    return Layout(dest, target, expired(older, mtimes, params, ctx.clock.time()))


async def plan(ctx: RunContext, params: BackupParams) -> list[PlannedAction]:
    """The archive to write and the old archives retention would delete."""
    lay = await asyncio.to_thread(layout, params, ctx)
    return [PlannedAction(action="write", path=str(lay.archive), detail="new backup archive")] + [
        PlannedAction(action="delete", path=str(p), detail="retention", bytes=p.stat().st_size)
        for p in lay.expired
    ]


async def _collect_postgres(pg: PostgresSource, work: Path) -> list[tuple[str, Path, int]]:
    conn = await backup_sources.connect(pg.dsn_env)
    try:
        out = []
        for n, table in enumerate(pg.tables):
            path = work / f"pg{n}.copy"
            out.append((table, path, await backup_sources.copy_out(conn, table, path)))
        return out
    finally:
        await conn.close()


def _add_files(writer: archive.ArchiveWriter, ctx: RunContext, params: BackupParams,
               dest: Path) -> None:  # fmt: skip
    # The archives' own folder is skipped when it lies inside a source root: a backup
    # must not swallow earlier backups (or itself, half written).
    for n, source in enumerate(params.files):
        top = confine(source.root, ctx.allowed_roots)
        for path in iter_files(str(top), source.glob, ctx.allowed_roots):
            if path.is_relative_to(dest) or path.is_symlink():
                continue
            rel = path.relative_to(top).as_posix()
            writer.add_file(f"files/{n}/{rel}", path, kind="file", root=str(top), path=rel)


def _write_archive(
    ctx: RunContext, params: BackupParams, lay: Layout, plain: Path,
    redis_items: list[RedisItem], tables: list[tuple[str, Path, int]],
) -> archive.Manifest:  # fmt: skip
    """Write the plain tar.gz (blocking); returns its manifest."""
    with plain.open("wb") as raw:
        with archive.open_for_writing(raw) as tar:
            writer = archive.ArchiveWriter(tar)
            _add_files(writer, ctx, params, lay.dest)
            for n, item in enumerate(redis_items):
                writer.add_bytes(f"redis/{n}.dump", item.payload, kind="redis",
                                 key_hex=item.key.hex(), ttl_ms=item.ttl_ms)  # fmt: skip
            for table, path, rows in tables:
                schema, name = backup_sources.split_table(table)
                writer.add_file(f"postgres/{schema}.{name}.copy", path, kind="postgres",
                                table_schema=schema, table=name, rows=rows)  # fmt: skip
            manifest = archive.Manifest(
                task=ctx.task, run_id=ctx.run_id, created_at=ctx.clock.time(),
                members=writer.members,
            )  # fmt: skip
            writer.finish(manifest)
        raw.flush()
        os.fsync(raw.fileno())
    return manifest


def _seal(plain: Path, target: Path, key: bytes | None) -> None:
    """Encrypt or move the plain archive beside ``target``, then rename it into place."""
    partial = target.with_name(target.name + ".partial")
    if key is not None:
        encrypt_file(plain, partial, key)
    else:
        shutil.move(plain, partial)
    os.chmod(partial, 0o600)  # a backup holds whatever secrets its sources hold
    os.replace(partial, target)
    fsync_dir(target.parent)


def _remove(paths: list[Path]) -> int:
    freed = 0
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            size = path.stat().st_size
            path.unlink()
            freed += size
    return freed


async def _build(ctx: RunContext, params: BackupParams, lay: Layout) -> archive.Manifest:
    key = key_from_env(params.key_env) if params.key_env else None
    work = lay.dest / f".{lay.archive.name}.work"
    await asyncio.to_thread(shutil.rmtree, work, True)
    lay.dest.mkdir(parents=True, exist_ok=True)
    work.mkdir(mode=0o700)  # table copies and key dumps wait here: private
    try:
        async with ctx.step("collect") as step:
            items = await backup_sources.dump_keys(_redis(ctx), params.redis_patterns) \
                if params.redis_patterns else []  # fmt: skip
            tables = await _collect_postgres(params.postgres, work) if params.postgres else []
            step.count(redis_keys=len(items), tables=len(tables))
        async with ctx.step("archive") as step:
            plain = work / "plain.tar.gz"
            manifest = await asyncio.to_thread(
                _write_archive, ctx, params, lay, plain, items, tables
            )
            await asyncio.to_thread(_seal, plain, lay.archive, key)
            step.count(members=len(manifest.members), bytes=lay.archive.stat().st_size)
    finally:
        await asyncio.to_thread(shutil.rmtree, work, True)
    return manifest


def _redis(ctx: RunContext) -> Any:
    if ctx.redis is None:
        raise HandlerError("redis_patterns given but this run has no Redis")
    return ctx.redis


@handler("backup", params=BackupParams, plan=plan)
async def backup(ctx: RunContext, params: BackupParams) -> Outcome:
    """Write the archive, keep its manifest as an artifact, apply retention."""
    lay = await asyncio.to_thread(layout, params, ctx)
    if ctx.dry_run:
        return Outcome(message=f"dry run: would write {lay.archive.name}, "
                               f"delete {len(lay.expired)} old archive(s)")  # fmt: skip
    manifest = await _build(ctx, params, lay)
    data = manifest.to_bytes()
    details: dict[str, Any] = {"archive": str(lay.archive), "encrypted": bool(params.key_env),
                               "manifest_sha256": archive.sha256_hex(data)}  # fmt: skip
    if ctx.artifacts.root is not None:
        ctx.artifacts.save("manifest.json", data)
    async with ctx.step("retention") as step:
        freed = await asyncio.to_thread(_remove, lay.expired)
        step.count(archives_deleted=len(lay.expired), bytes_freed=freed)
    kinds = [m.kind for m in manifest.members]
    metrics = {
        "files_processed": kinds.count("file"), "items_processed": len(kinds),
        "redis_keys": kinds.count("redis"), "tables": kinds.count("postgres"),
        "rows": sum(m.rows for m in manifest.members), "bytes_freed": freed,
        "archive_bytes": lay.archive.stat().st_size, "archives_deleted": len(lay.expired),
    }  # fmt: skip
    details["deleted"] = [str(p) for p in lay.expired]
    return Outcome(message=f"backed up {len(kinds)} member(s) to {lay.archive.name}",
                   details=details, metrics=metrics)  # fmt: skip
