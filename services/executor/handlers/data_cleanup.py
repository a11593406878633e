"""``data_cleanup``: retention by age and glob, gzip of old files, duplicate removal.

Each rule names a ``root`` (confined to ``allowed_roots``), a ``glob`` (a file-name
pattern at any depth, or a path pattern relative to the root when it holds ``/``) and
what to do: ``older_than`` → delete, ``compress_after`` → gzip in place (atomic, mtime
kept), ``deduplicate`` → delete files whose content repeats an older file's (the oldest
copy stays). Symlinks are never touched. A file matched by several rules belongs to the
first. ``bytes_freed`` is the real size difference: sizes deleted plus, per compressed
file, its size minus its ``.gz``'s.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.executor.handlers.base import Outcome, PlannedAction, RunContext
from services.executor.handlers.cleanup_plan import (
    CleanupAction,
    FileFacts,
    by_age,
    duplicates,
    hash_candidates,
)
from services.executor.handlers.fspaths import SafeGlob, SafePath, confine
from services.executor.handlers.gzipping import CHUNK, gz_path, gzip_in_place
from services.executor.handlers.registry import handler
from services.executor.safety import iter_files
from shared.config.models import Duration


class CleanupRule(BaseModel):
    """One retention rule (at least one of ``older_than``, ``compress_after``, ``deduplicate``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    root: SafePath
    glob: SafeGlob = "*"
    older_than: Duration | None = None
    compress_after: Duration | None = None
    deduplicate: bool = False

    @model_validator(mode="after")
    def _does_something(self) -> CleanupRule:
        if self.older_than is None and self.compress_after is None and not self.deduplicate:
            raise ValueError("a rule needs older_than, compress_after or deduplicate: true")
        if (self.older_than is not None and self.compress_after is not None
                and self.compress_after >= self.older_than):  # fmt: skip
            raise ValueError("compress_after must be shorter than older_than")
        return self


class DataCleanupParams(BaseModel):
    """The rules, applied in order."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rules: list[CleanupRule] = Field(min_length=1)


def _facts(paths: list[Path]) -> list[FileFacts]:
    out = []
    for path in paths:
        st = path.lstat()
        out.append(FileFacts(path, st.st_size, st.st_mtime))
    return out


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's content (blocking)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _rule_actions(
    rule: CleanupRule, roots: tuple[str, ...], now: float, claimed: set[Path]
) -> tuple[list[CleanupAction], int]:
    """Actions of one rule over files no earlier rule claimed; and how many it scanned."""
    top = confine(rule.root, roots)
    paths = [p for p in iter_files(str(top), rule.glob, roots)
             if not p.is_symlink() and p not in claimed]  # fmt: skip
    claimed.update(paths)
    files = _facts(paths)
    actions = by_age(files, now, rule.older_than, rule.compress_after)
    if rule.deduplicate:
        acted = {a.path for a in actions}
        kept = [f for f in files if f.path not in acted]
        digests = {f.path: sha256_file(f.path) for f in hash_candidates(kept)}
        actions += duplicates(kept, digests)
    return actions, len(files)


def decide(
    params: DataCleanupParams, roots: tuple[str, ...], now: float
) -> tuple[list[CleanupAction], int]:
    """Every action of every rule, and the number of files scanned (blocking: to_thread)."""
    claimed: set[Path] = set()
    actions: list[CleanupAction] = []
    scanned = 0
    for rule in params.rules:
        more, seen = _rule_actions(rule, roots, now, claimed)
        actions += more
        scanned += seen
    return actions, scanned


def as_planned(actions: list[CleanupAction]) -> list[PlannedAction]:
    """The plan as shown by ``--dry-run``; each ``.gz`` to be created is listed too, so a
    rollback point records it as absent and a restore removes it."""
    planned = []
    for a in actions:
        planned.append(
            PlannedAction(action=a.kind, path=str(a.path), detail=a.reason, bytes=a.size)
        )
        if a.kind == "compress":
            planned.append(PlannedAction(action="write", path=str(gz_path(a.path)),
                                         detail=f"gzip of {a.path.name}"))  # fmt: skip
    return planned


async def plan(ctx: RunContext, params: DataCleanupParams) -> list[PlannedAction]:
    """What a run would delete and compress now (changes nothing)."""
    actions, _ = await asyncio.to_thread(decide, params, ctx.allowed_roots, ctx.clock.time())
    return as_planned(actions)


def _delete(path: Path) -> int:
    try:
        size = path.lstat().st_size
        path.unlink()
    except FileNotFoundError:  # gone since the scan: nothing freed, nothing to do
        return 0
    return size


async def _apply(ctx: RunContext, actions: list[CleanupAction], kind: str) -> tuple[int, int]:
    """Carry out the actions of one ``kind``; returns (files acted on, bytes freed)."""
    mine = [a for a in actions if a.kind == kind]
    files = freed = 0
    async with ctx.step(kind) as step:
        if not mine:
            step.skip(f"nothing to {kind}")
        for n, action in enumerate(mine, 1):
            work = _delete if kind == "delete" else gzip_in_place
            freed += await asyncio.to_thread(work, action.path)
            files += 1
            step.count(files=1)
            await ctx.progress(n, len(mine), f"{kind} {action.path.name}")
        step.count(bytes_freed=freed)
    return files, freed


@handler("data_cleanup", params=DataCleanupParams, plan=plan)
async def data_cleanup(ctx: RunContext, params: DataCleanupParams) -> Outcome:
    """Apply the rules; metrics ``files_processed``, ``bytes_freed`` and per-kind counts."""
    async with ctx.step("scan") as step:
        actions, scanned = await asyncio.to_thread(
            decide, params, ctx.allowed_roots, ctx.clock.time()
        )
        step.count(files=scanned, planned=len(actions))
    if ctx.dry_run:
        return Outcome(message=f"dry run: {len(actions)} action(s) planned, nothing changed",
                       details={"plan": [_shown(a) for a in actions]})  # fmt: skip
    deleted, freed_by_delete = await _apply(ctx, actions, "delete")
    compressed, freed_by_gzip = await _apply(ctx, actions, "compress")
    freed = freed_by_delete + freed_by_gzip
    dupes = sum(1 for a in actions if a.reason.startswith("duplicate of"))
    metrics: dict[str, Any] = {
        "files_processed": deleted + compressed, "bytes_freed": freed,
        "items_processed": deleted + compressed, "files_scanned": scanned,
        "files_deleted": deleted, "files_compressed": compressed, "duplicates_removed": dupes,
    }  # fmt: skip
    message = f"deleted {deleted}, compressed {compressed} of {scanned} files; freed {freed} B"
    return Outcome(message=message, metrics=metrics)


def _shown(action: CleanupAction) -> dict[str, Any]:
    return {"action": action.kind, "path": str(action.path), "bytes": action.size,
            "reason": action.reason}  # fmt: skip
