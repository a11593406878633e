"""Helpers for the filesystem handler tests: a run context, aged files, a tree digest."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

from services.executor.handlers import registry
from services.executor.handlers.base import Outcome, PlannedAction, RunContext
from shared.runtime.clock import FakeClock
from shared.runtime.logging import get_logger
from shared.runtime.redis import Redis

NOW = float(int(time.time()))
"""The fake clock starts at the real time, so files a handler creates are 'new' too."""
DAY = 86_400.0


def make_ctx(
    roots: list[Path], *, redis: Redis | None = None, dry_run: bool = False,
    artifacts: Path | None = None, clock: FakeClock | None = None, run_id: str = "run-1",
) -> RunContext:  # fmt: skip
    """A context confined to ``roots`` with a fake clock at ``NOW``."""
    return RunContext(
        run_id=run_id, task="t", attempt=1, clock=clock or FakeClock(NOW),
        log=get_logger("test").bind(run_id=run_id), redis=redis,
        allowed_roots=tuple(str(r) for r in roots), dry_run=dry_run, artifacts_dir=artifacts,
    )  # fmt: skip


def put(path: Path, data: bytes, age_days: float = 0.0) -> Path:
    """Write ``data`` at ``path`` with an mtime ``age_days`` before ``NOW``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    when = NOW - age_days * DAY
    os.utime(path, (when, when))
    return path


def read(path: str | Path) -> bytes:
    """The bytes at ``path`` (a sync helper: tests read small files)."""
    return Path(path).read_bytes()


def write(path: str | Path, data: bytes) -> None:
    """Replace the bytes at ``path``."""
    Path(path).write_bytes(data)


def tree(root: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``root`` (links as their target text): relative path → (size, sha256)."""
    out: dict[str, tuple[int, str]] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = (0, os.readlink(path))
        elif path.is_file():
            data = path.read_bytes()
            out[rel] = (len(data), hashlib.sha256(data).hexdigest())
    return out


def total_size(root: Path) -> int:
    """Apparent size of every regular file under ``root``."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


async def run(name: str, ctx: RunContext, params: dict[str, Any]) -> Outcome:
    """Validate ``params`` like the executor does and run handler ``name``."""
    spec = registry.get(name)
    assert spec is not None
    return await spec.run(ctx, spec.parse_params(params))


async def plan(name: str, ctx: RunContext, params: dict[str, Any]) -> list[PlannedAction]:
    """The handler's plan for ``params``."""
    spec = registry.get(name)
    assert spec is not None and spec.plan is not None
    return await spec.plan(ctx, spec.parse_params(params))
