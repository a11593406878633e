"""What ``data_cleanup`` will do, decided from file facts alone (pure: no I/O, no clock).

Per rule, a file older than ``older_than`` is deleted; otherwise one older than
``compress_after`` (and not already ``.gz``) is compressed. Duplicates are judged among
the files a rule keeps: files of equal size and equal sha256 form a group, the oldest
(smallest mtime, then the smallest path) is kept and the others are deleted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True, slots=True)
class FileFacts:
    """What the planner needs to know about one regular file."""

    path: Path
    size: int
    mtime: float


@dataclass(frozen=True, slots=True)
class CleanupAction:
    """One change: delete or compress ``path`` (``size`` bytes now), and why."""

    kind: Literal["delete", "compress"]
    path: Path
    size: int
    reason: str


def _age_text(seconds: float) -> str:
    return f"{seconds / 86400:.1f}d" if seconds >= 86400 else f"{seconds:.0f}s"


def by_age(
    files: Iterable[FileFacts], now: float, older_than: float | None, compress_after: float | None
) -> list[CleanupAction]:
    """Delete what is older than ``older_than``, else compress what is older than
    ``compress_after``; files already ending in ``.gz`` are never compressed again."""
    actions: list[CleanupAction] = []
    for f in files:
        age = now - f.mtime
        if older_than is not None and age >= older_than:
            reason = f"age {_age_text(age)} ≥ older_than {_age_text(older_than)}"
            actions.append(CleanupAction("delete", f.path, f.size, reason))
        elif compress_after is not None and age >= compress_after and f.path.suffix != ".gz":
            reason = f"age {_age_text(age)} ≥ compress_after {_age_text(compress_after)}"
            actions.append(CleanupAction("compress", f.path, f.size, reason))
    return actions


def hash_candidates(files: Sequence[FileFacts]) -> list[FileFacts]:
    """Files that share their size with another file: only these need hashing."""
    sizes: dict[int, int] = defaultdict(int)
    for f in files:
        sizes[f.size] += 1
    return [f for f in files if sizes[f.size] > 1 and f.size > 0]


def duplicates(files: Sequence[FileFacts], digests: Mapping[Path, str]) -> list[CleanupAction]:
    """Delete every file whose (size, sha256) matches an older one; the oldest stays."""
    groups: dict[tuple[int, str], list[FileFacts]] = defaultdict(list)
    for f in files:
        if f.path in digests:
            groups[(f.size, digests[f.path])].append(f)
    actions: list[CleanupAction] = []
    for group in groups.values():
        keep, *extra = sorted(group, key=lambda f: (f.mtime, str(f.path)))
        actions += [CleanupAction("delete", f.path, f.size, f"duplicate of {keep.path}")
                    for f in extra]  # fmt: skip
    return sorted(actions, key=lambda a: str(a.path))
