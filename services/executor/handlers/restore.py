"""``restore``: put a backup's files, Redis keys and tables back — only if it is intact.

Order, so that a bad archive writes nothing: the archive is copied (or decrypted, which
checks the GCM tag) into a private temporary folder and verified member by member against
its manifest (:func:`.archive.verify`), optionally against the manifest sha256 the backup
run reported; then every target is checked — file targets confined to ``allowed_roots``
and not existing unless ``overwrite``, Redis keys absent unless ``redis_replace``, tables
present — and only then are files written (each atomically, with its mode and mtime),
keys restored with their TTL, and tables loaded in one transaction. An archive given a
``key_env`` must be encrypted: a plain archive in its place is refused, not trusted.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.executor.handlers import archive, backup_sources
from services.executor.handlers.archive_crypto import (
    ArchiveError,
    decrypt_file,
    is_encrypted,
    key_from_env,
)
from services.executor.handlers.backup import ENV_NAME
from services.executor.handlers.backup_sources import RedisItem
from services.executor.handlers.base import HandlerError, Outcome, PlannedAction, RunContext
from services.executor.handlers.fspaths import SafePath, confine, confined_child
from services.executor.handlers.gzipping import CHUNK
from services.executor.handlers.registry import handler

Part = Literal["files", "redis", "postgres"]
ALL_PARTS: tuple[Part, ...] = ("files", "redis", "postgres")


class PostgresTarget(BaseModel):
    """Where tables go back: the DSN's variable; ``truncate`` empties each table first."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    dsn_env: str = Field("DATABASE_URL", pattern=ENV_NAME)
    truncate: bool = False


class RestoreParams(BaseModel):
    """Which archive, which parts, and where they go."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    archive: SafePath
    key_env: str | None = Field(None, pattern=ENV_NAME)
    expect_manifest_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    include: list[Part] = Field(default_factory=lambda: list(ALL_PARTS))
    files_to: SafePath | None = None
    overwrite: bool = False
    redis_replace: bool = False
    postgres: PostgresTarget | None = None


@dataclass
class Verified:
    """An archive that passed every check, unpacked as far as restoring needs."""

    plain: Path
    manifest: archive.Manifest
    manifest_sha256: str
    targets: dict[str, Path]
    redis: list[RedisItem] = field(default_factory=list)
    tables: list[tuple[str, Path]] = field(default_factory=list)

    def kind(self, kind: str) -> list[archive.Member]:
        """Members of one kind."""
        return [m for m in self.manifest.members if m.kind == kind]


def _plain_copy(params: RestoreParams, roots: tuple[str, ...], tmp: Path) -> Path:
    src = confine(params.archive, roots)
    if not src.is_file():
        raise HandlerError(f"archive {params.archive!r} is not a file")
    plain = tmp / "archive.tar.gz"
    encrypted = is_encrypted(src)
    if encrypted and not params.key_env:
        raise ArchiveError(f"{src.name} is encrypted: set key_env")
    if params.key_env and not encrypted:
        raise ArchiveError(f"{src.name} is not encrypted but key_env is set: refusing it")
    if params.key_env:
        decrypt_file(src, plain, key_from_env(params.key_env))
    else:
        shutil.copyfile(src, plain)  # verify and extract the same bytes, whatever src does
    return plain


def _file_targets(
    manifest: archive.Manifest, params: RestoreParams, roots: tuple[str, ...], base: Path | None
) -> dict[str, Path]:
    if "files" not in params.include:
        return {}
    targets: dict[str, Path] = {}
    for m in manifest.members:
        if m.kind == "file":
            targets[m.name] = confined_child(base or confine(m.root, roots), m.path, roots)
    if len(set(targets.values())) != len(targets):
        raise ArchiveError("two members would be restored to the same path")
    taken = [str(t) for t in targets.values() if t.exists() or t.is_symlink()]
    if taken and not params.overwrite:
        raise HandlerError(f"{len(taken)} target(s) exist (set overwrite: true): {taken[:3]}")
    return targets


def open_verified(params: RestoreParams, roots: tuple[str, ...], tmp: Path) -> Verified:
    """Copy or decrypt, verify, and resolve file targets (blocking); raises on any doubt."""
    base = confine(params.files_to, roots) if params.files_to else None
    plain = _plain_copy(params, roots, tmp)
    manifest, digest = archive.verify(plain)
    expected = params.expect_manifest_sha256
    if expected and digest != expected:
        raise ArchiveError(f"manifest sha256 {digest} is not the expected {expected}")
    return Verified(plain, manifest, digest, _file_targets(manifest, params, roots, base))


async def plan(ctx: RunContext, params: RestoreParams) -> list[PlannedAction]:
    """The files a restore would write (after verifying the archive; changes nothing)."""
    with tempfile.TemporaryDirectory(prefix="wk-restore-") as tmp:
        found = await asyncio.to_thread(open_verified, params, ctx.allowed_roots, Path(tmp))
    sizes = {m.name: m.size for m in found.manifest.members}
    return [PlannedAction(action="write", path=str(t), detail=f"from {name}", bytes=sizes[name])
            for name, t in found.targets.items()]  # fmt: skip


def _write_file(src: IO[bytes], target: Path, member: archive.Member) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.restore-partial")
    with partial.open("wb") as out:
        shutil.copyfileobj(src, out, CHUNK)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(partial, member.mode & 0o7777)
    os.utime(partial, ns=(member.mtime_ns, member.mtime_ns))
    os.replace(partial, target)


def unpack(found: Verified, tmp: Path) -> None:
    """Write the file members to their targets; load Redis payloads and table copies."""
    listed = {m.name: m for m in found.manifest.members}
    for name, src in archive.members(found.plain):
        member = listed[name]
        if name in found.targets:
            _write_file(src, found.targets[name], member)
        elif member.kind == "redis":
            found.redis.append(RedisItem(bytes.fromhex(member.key_hex), src.read(), member.ttl_ms))
        elif member.kind == "postgres":
            copy = tmp / f"pg{len(found.tables)}.copy"
            with copy.open("wb") as out:
                shutil.copyfileobj(src, out, CHUNK)
            found.tables.append((f"{member.table_schema}.{member.table}", copy))


async def _check_redis(ctx: RunContext, params: RestoreParams, found: Verified) -> bool:
    if "redis" not in params.include or not found.kind("redis"):
        return False
    if ctx.redis is None:
        raise HandlerError("the archive holds Redis keys but this run has no Redis")
    if not params.redis_replace:
        keys = [bytes.fromhex(m.key_hex) for m in found.kind("redis")]
        if clash := await backup_sources.existing(ctx.redis, keys):
            shown = [k.decode(errors="replace") for k in clash[:3]]
            raise HandlerError(f"{len(clash)} key(s) exist (set redis_replace: true): {shown}")
    return True


async def _check_postgres(params: RestoreParams, found: Verified) -> Any:
    """An open connection when tables are to be restored (all of them exist), else None."""
    members = found.kind("postgres")
    if "postgres" not in params.include or not members:
        return None
    if params.postgres is None:
        raise HandlerError("the archive holds tables: set postgres (dsn_env) or leave them out")
    conn = await backup_sources.connect(params.postgres.dsn_env)
    names = [f"{m.table_schema}.{m.table}" for m in members]
    if gone := await backup_sources.missing_tables(conn, names):
        await conn.close()
        raise HandlerError(f"tables missing in the target database: {gone}")
    return conn


async def _load_tables(conn: Any, found: Verified, truncate: bool) -> int:
    rows = 0
    async with conn.transaction():
        for name, path in found.tables:
            rows += await backup_sources.copy_in(conn, name, path, truncate)
    return rows


@handler("restore", params=RestoreParams, plan=plan)
async def restore(ctx: RunContext, params: RestoreParams) -> Outcome:
    """Verify, check every target, then write files, keys and tables."""
    with tempfile.TemporaryDirectory(prefix="wk-restore-") as tmp:
        async with ctx.step("verify") as step:
            found = await asyncio.to_thread(open_verified, params, ctx.allowed_roots, Path(tmp))
            step.count(members=len(found.manifest.members))
        if ctx.dry_run:
            return Outcome(message=f"dry run: archive verified, {len(found.targets)} file(s) "
                                   "would be written")  # fmt: skip
        async with ctx.step("check targets"):
            with_redis = await _check_redis(ctx, params, found)
            conn = await _check_postgres(params, found)
        try:
            return await _write(ctx, params, found, Path(tmp), (with_redis, conn))
        finally:
            if conn is not None:
                await conn.close()


async def _write(
    ctx: RunContext, params: RestoreParams, found: Verified, tmp: Path, checked: tuple[bool, Any]
) -> Outcome:
    with_redis, conn = checked
    keys = rows = 0
    async with ctx.step("files") as step:
        await asyncio.to_thread(unpack, found, tmp)
        step.count(files=len(found.targets))
    await ctx.progress(1, 3, "files restored")
    if with_redis and ctx.redis is not None:
        async with ctx.step("redis") as step:
            keys = await backup_sources.restore_keys(ctx.redis, found.redis, params.redis_replace)
            step.count(keys=keys)
    await ctx.progress(2, 3, "keys restored")
    if conn is not None and params.postgres is not None:
        async with ctx.step("postgres") as step:
            rows = await _load_tables(conn, found, params.postgres.truncate)
            step.count(rows=rows)
    metrics = {"files_processed": len(found.targets), "redis_keys": keys, "rows": rows,
               "items_processed": len(found.targets) + keys + len(found.tables)}  # fmt: skip
    details = {"manifest_sha256": found.manifest_sha256, "backup_run_id": found.manifest.run_id,
               "files": [str(t) for t in found.targets.values()]}  # fmt: skip
    message = f"restored {len(found.targets)} file(s), {keys} key(s), {rows} row(s)"
    return Outcome(message=message, details=details, metrics=metrics)
