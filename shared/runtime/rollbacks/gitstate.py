"""Git commit and branch of the work trees a rollback point's files live in.

Git is optional: without the binary, outside a work tree, or when git fails or hangs,
the state is simply not recorded.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

GIT_TIMEOUT_S: Final = 5.0


async def _git(git: str, cwd: str, *args: str) -> str | None:
    """stdout of ``git -C cwd args`` (argv, no shell), or None when it fails."""
    try:
        proc = await asyncio.create_subprocess_exec(
            git, "-C", cwd, *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
    except OSError:
        return None
    try:
        async with asyncio.timeout(GIT_TIMEOUT_S):
            out, _ = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return None
    return out.decode(errors="replace").strip() if proc.returncode == 0 else None


async def _work_tree_state(git: str, top: str) -> dict[str, str | None]:
    return {
        "commit": await _git(git, top, "rev-parse", "HEAD"),
        "branch": await _git(git, top, "rev-parse", "--abbrev-ref", "HEAD"),
    }


async def git_state(directories: Iterable[str]) -> dict[str, Any] | None:
    """``{work tree top: {"commit", "branch"}}`` for the directories' work trees, or None.

    Directories that no longer exist are looked up through their nearest existing parent.
    ``commit`` is None in a repository without commits.
    """
    git = shutil.which("git")
    if git is None:
        return None
    tops: set[str] = set()
    for directory in set(directories):
        top = await _git(git, _existing(Path(directory)), "rev-parse", "--show-toplevel")
        if top:
            tops.add(top)
    states = {top: await _work_tree_state(git, top) for top in sorted(tops)}
    return states or None


def _existing(path: Path) -> str:
    while not path.exists() and path != path.parent:
        path = path.parent
    return str(path)
