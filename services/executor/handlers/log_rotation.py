"""``log_rotation``: rotate logs by size or age, gzip old generations, keep N.

Logs are the files under ``root`` matching ``glob`` (rotated generations, ``*.N`` and
``*.N.gz``, never count as logs). Two modes:

* rename (default): the log is renamed away and an empty log with the same mode takes
  its place; for writers that open the file per write or are told to reopen.
* ``copy_truncate``: the log is copied (gzipped) into generation 1, then truncated in
  place; for writers that hold the file open (they should open it with ``O_APPEND``, so
  their next write lands at the start of the truncated file). Bytes written between the
  copy and the truncate are lost — the same window logrotate's ``copytruncate`` has.

``bytes_freed`` is the size of the files involved before minus after.
"""

from __future__ import annotations

import asyncio
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ByteSize, ConfigDict, Field, model_validator

from services.executor.handlers.base import Outcome, PlannedAction, RunContext
from services.executor.handlers.fspaths import SafeGlob, SafePath, confine
from services.executor.handlers.gzipping import atomic_copy, fsync_dir
from services.executor.handlers.registry import handler
from services.executor.handlers.rotation_plan import (
    GENERATION_RE,
    LogFacts,
    RotationStep,
    due_reason,
    generation,
    rotation_steps,
)
from services.executor.safety import iter_files
from shared.config.models import Duration


class LogRotationParams(BaseModel):
    """Which logs, when to rotate (``max_size`` and/or ``max_age``) and how many to keep."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    root: SafePath
    glob: SafeGlob = "*.log"
    max_size: ByteSize | None = None
    max_age: Duration | None = None
    keep: int = Field(7, ge=1, le=1000)
    compress: bool = True
    copy_truncate: bool = False
    min_size: ByteSize = ByteSize(1)

    @model_validator(mode="after")
    def _has_a_trigger(self) -> LogRotationParams:
        if self.max_size is None and self.max_age is None:
            raise ValueError("set max_size, max_age or both")
        return self


@dataclass(frozen=True, slots=True)
class Rotation:
    """One log to rotate: why, and the steps."""

    log: Path
    reason: str
    steps: list[RotationStep]


def _generations(log: Path, compress: bool) -> set[int]:
    found = set()
    for sibling in log.parent.glob(f"{log.name}.*"):
        match = GENERATION_RE.fullmatch(sibling.name[len(log.name) :])
        if match and bool(match.group(2)) == compress:
            found.add(int(match.group(1)))
    return found


def decide(params: LogRotationParams, roots: tuple[str, ...], now: float) -> list[Rotation]:
    """The rotations due now (blocking: call through ``asyncio.to_thread``)."""
    top = confine(params.root, roots)
    rotations = []
    for log in iter_files(str(top), params.glob, roots):
        if log.is_symlink() or GENERATION_RE.search(log.name):
            continue
        existing = _generations(log, params.compress)
        newest = generation(log, 1, params.compress)
        facts = LogFacts(log, log.stat().st_size,
                         newest.stat().st_mtime if 1 in existing else None)  # fmt: skip
        reason = due_reason(facts, now, params.max_size, params.max_age, params.min_size)
        if reason:
            steps = rotation_steps(log, existing, params.keep, params.compress)
            rotations.append(Rotation(log, reason, steps))
    return rotations


def as_planned(rotations: list[Rotation]) -> list[PlannedAction]:
    """The plan; paths that do not exist yet are listed as ``write`` so a rollback removes
    them."""
    planned: list[PlannedAction] = []
    for rot in rotations:
        sources = {s.src for s in rot.steps}
        for s in rot.steps:
            detail = f"→ {s.dest.name}" if s.dest else "beyond keep"
            if s.kind == "rotate":
                detail = f"{rot.reason}; → {s.dest.name if s.dest else ''}"
            planned.append(PlannedAction(action=s.kind, path=str(s.src),
                                         detail=detail))  # fmt: skip
            if s.dest is not None and s.dest not in sources:
                planned.append(PlannedAction(action="write", path=str(s.dest),
                                             detail="new generation"))  # fmt: skip
    return planned


async def plan(ctx: RunContext, params: LogRotationParams) -> list[PlannedAction]:
    """What a run would rotate now (changes nothing)."""
    rotations = await asyncio.to_thread(decide, params, ctx.allowed_roots, ctx.clock.time())
    return as_planned(rotations)


def _rotate_live(log: Path, dest: Path, compress: bool, copy_truncate: bool) -> None:
    if copy_truncate:
        atomic_copy(log, dest, compress=compress)
        os.truncate(log, 0)
        return
    held = log.with_name(log.name + ".rotating")
    os.rename(log, held)
    mode = stat.S_IMODE(held.stat().st_mode)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    os.close(fd)
    atomic_copy(held, dest, compress=compress)
    held.unlink()


def _sizes(paths: list[Path]) -> int:
    return sum(p.stat().st_size for p in paths if p.exists())


def rotate(rotation: Rotation, params: LogRotationParams) -> int:
    """Carry out one rotation (blocking); returns bytes freed (size before − after)."""
    involved = list({p for s in rotation.steps for p in (s.src, s.dest) if p is not None})
    before = _sizes(involved)
    for s in rotation.steps:
        if s.kind == "delete":
            s.src.unlink(missing_ok=True)
        elif s.kind == "move" and s.dest is not None:
            os.rename(s.src, s.dest)
        elif s.dest is not None:
            _rotate_live(s.src, s.dest, params.compress, params.copy_truncate)
    fsync_dir(rotation.log.parent)
    return before - _sizes(involved)


@handler("log_rotation", params=LogRotationParams, plan=plan)
async def log_rotation(ctx: RunContext, params: LogRotationParams) -> Outcome:
    """Rotate every due log; metrics ``files_processed`` (logs rotated) and ``bytes_freed``."""
    async with ctx.step("scan") as step:
        rotations = await asyncio.to_thread(decide, params, ctx.allowed_roots, ctx.clock.time())
        step.count(due=len(rotations))
    if ctx.dry_run:
        return Outcome(message=f"dry run: {len(rotations)} log(s) due, nothing changed",
                       details={"plan": [_shown(r) for r in rotations]})  # fmt: skip
    freed = dropped = 0
    async with ctx.step("rotate") as step:
        if not rotations:
            step.skip("no log due")
        for n, rotation in enumerate(rotations, 1):
            freed += await asyncio.to_thread(rotate, rotation, params)
            dropped += sum(1 for s in rotation.steps if s.kind == "delete")
            step.count(logs=1)
            await ctx.progress(n, len(rotations), f"rotated {rotation.log.name}")
    metrics: dict[str, Any] = {
        "files_processed": len(rotations), "items_processed": len(rotations),
        "bytes_freed": freed, "generations_deleted": dropped,
    }  # fmt: skip
    details = {"rotated": [str(r.log) for r in rotations]}
    message = f"rotated {len(rotations)} log(s); freed {freed} B"
    return Outcome(message=message, details=details, metrics=metrics)


def _shown(rotation: Rotation) -> dict[str, Any]:
    return {"log": str(rotation.log), "reason": rotation.reason,
            "steps": [[s.kind, str(s.src), str(s.dest or "")] for s in rotation.steps]}  # fmt: skip
