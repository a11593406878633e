"""Filesystem confinement: every path a handler touches must lie under ``allowed_roots``.

Paths are compared after ``realpath`` resolution, so ``..`` segments and symlinks that
point out of the roots are caught. An empty ``allowed_roots`` confines to nothing: every
path is refused (fail closed).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from services.executor.handlers.base import HandlerError


class ConfinementError(HandlerError):
    """A path resolves outside every allowed root (the message names path and roots)."""


def _real_roots(allowed_roots: Sequence[str]) -> list[Path]:
    return [Path(os.path.realpath(root)) for root in allowed_roots]


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def resolve_confined(path: str, allowed_roots: Sequence[str], base: Path | None = None) -> Path:
    """Return the real path of ``path``, or raise :class:`ConfinementError`.

    A relative ``path`` is taken relative to ``base``; without a base it is refused,
    because the process working directory is not something a task definition controls.
    The path need not exist; its existing prefix is resolved through symlinks.
    """
    candidate = Path(path)
    if not candidate.is_absolute():
        if base is None:
            raise ConfinementError(f"path {path!r} is relative and no base directory is set")
        candidate = base / candidate
    resolved = Path(os.path.realpath(candidate))
    if not _inside(resolved, _real_roots(allowed_roots)):
        via = "" if resolved == candidate else f" (resolves to {str(resolved)!r})"
        raise ConfinementError(
            f"path {path!r}{via} is outside allowed_roots {list(allowed_roots)}",
            details={"path": path, "resolved": str(resolved), "allowed_roots": list(allowed_roots)},
        )
    return resolved


def _matches(relative: str, name: str, glob: str) -> bool:
    # A pattern without "/" matches the file name at any depth (like find -name);
    # one with "/" matches the whole path relative to the root.
    return fnmatch.fnmatchcase(relative if "/" in glob else name, glob)


def iter_files(root: str, glob: str, allowed_roots: Sequence[str]) -> Iterator[Path]:
    """Yield regular files under ``root`` matching ``glob``, sorted per directory.

    ``root`` itself must be confined. Symlinked directories are never descended into;
    a symlinked file is yielded (as the link's own path) only when its target is a
    regular file inside the allowed roots. Blocking: call it through ``asyncio.to_thread``
    for large trees.
    """
    top = resolve_confined(root, allowed_roots)
    roots = _real_roots(allowed_roots)
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath, name)
            relative = path.relative_to(top).as_posix()
            if _matches(relative, name, glob) and _is_confined_file(path, roots):
                yield path


def _is_confined_file(path: Path, roots: Sequence[Path]) -> bool:
    if not path.is_symlink():
        return path.is_file()
    target = Path(os.path.realpath(path))
    return target.is_file() and _inside(target, roots)
