"""Pruning of run artifacts (``<artifacts_dir>/<run>/``) by age: ``executor.artifacts_max_age``.

A run's folder is as old as its newest entry (the folder's mtime moves when an artifact
is added). The choice is pure (:func:`expired`); :func:`prune_artifacts` applies it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path


def expired(folders: Iterable[tuple[str, float]], now: float, max_age_s: float) -> list[str]:
    """Names of the ``(name, mtime)`` folders older than ``max_age_s`` at ``now``."""
    return sorted(name for name, mtime in folders if now - mtime > max_age_s)


def prune_artifacts(root: Path, max_age_s: float, now: float) -> list[str]:
    """Remove run folders under ``root`` older than ``max_age_s``; returns their names.

    Blocking: call through ``asyncio.to_thread``. Symlinks and plain files are left alone
    (nothing a run makes), so pruning never reaches outside ``root``.
    """
    if not root.is_dir():
        return []
    folders = [(p.name, p.stat().st_mtime) for p in root.iterdir()
               if p.is_dir() and not p.is_symlink()]  # fmt: skip
    doomed = expired(folders, now, max_age_s)
    for name in doomed:
        shutil.rmtree(root / name, ignore_errors=True)
    return doomed
