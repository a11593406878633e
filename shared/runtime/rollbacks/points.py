"""Rollback points on the filesystem: preserve files before a run changes them, restore later.

Layout: ``<store_dir>/<point id>/files/<n>`` holds the preserved copy of the n-th file.

How a file is preserved depends on what the run will do to it:

* :attr:`Preserve.LINK` (files the run deletes, or replaces by rename): a hardlink, which
  costs no space. A hardlink shares the inode, so it is only safe when the original is
  never modified in place. Falls back to a copy when linking is impossible (another
  filesystem, or a filesystem without hardlinks).
* :attr:`Preserve.COPY` (files the run modifies in place): ``shutil.copy2``.

A path that does not exist when the point is created is recorded as absent; restoring
removes it again. That is the only way a restore removes files: files the run created
but that the point does not list are left alone.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import re
import shutil
import stat
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from shared.runtime.clock import Clock
from shared.runtime.rollbacks.gitstate import git_state

FILES_DIR = "files"


class Preserve(StrEnum):
    """How to preserve one file: by hardlink (deleted/renamed) or copy (changed in place)."""

    LINK = "link"
    COPY = "copy"


class RollbackError(Exception):
    """A rollback point cannot be created or restored."""


class RollbackIntegrityError(RollbackError):
    """Preserved data is missing or does not match its checksum; ``problems`` lists why."""

    def __init__(self, point_id: str, problems: list[str]) -> None:
        super().__init__(f"rollback point {point_id} failed verification: " + "; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True, kw_only=True)
class PreservedFile:
    """One original path and, when it existed, its preserved copy and metadata."""

    path: str
    existed: bool
    stored: str = ""
    method: str = ""  # the Preserve actually used ("copy" when a link was impossible)
    sha256: str = ""
    size: int = 0
    mode: int = 0
    mtime_ns: int = 0
    atime_ns: int = 0
    uid: int = -1
    gid: int = -1


@dataclass(frozen=True, slots=True, kw_only=True)
class RollbackPoint:
    """Metadata of one rollback point; ``created_at`` is UTC epoch seconds."""

    id: str
    task: str
    run_id: str
    created_at: float
    root_paths: tuple[str, ...]
    files: tuple[PreservedFile, ...]
    total_bytes: int
    git: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (lists, dicts, str, int, float): fits msgpack and JSON."""
        data = asdict(self)
        data["root_paths"] = list(self.root_paths)
        data["files"] = [asdict(f) for f in self.files]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RollbackPoint:
        """Inverse of :meth:`to_dict`; raises ``KeyError``/``TypeError`` on a bad record."""
        return cls(
            id=data["id"],
            task=data["task"],
            run_id=data["run_id"],
            created_at=float(data["created_at"]),
            root_paths=tuple(data["root_paths"]),
            files=tuple(PreservedFile(**f) for f in data["files"]),
            total_bytes=int(data["total_bytes"]),
            git=data.get("git"),
        )


_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def point_dir(store_dir: Path, point_id: str) -> Path:
    """Directory holding the preserved files of one point; refuses ids like ``..``."""
    if not _ID_RE.match(point_id):
        raise RollbackError(f"invalid rollback point id {point_id!r}")
    return store_dir / point_id


def new_point_id(created_at: float) -> str:
    """A unique id that sorts by creation time (seconds, then randomness)."""
    return f"rb-{int(created_at):010d}-{uuid.uuid4().hex[:12]}"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's content."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


async def create_point(
    store_dir: Path,
    paths: Mapping[str | Path, Preserve],
    *,
    task: str,
    run_id: str,
    clock: Clock,
) -> RollbackPoint:
    """Preserve every path in ``paths`` (see the module doc for LINK vs COPY).

    Paths must be absolute and either absent or regular files (symlinks are refused so a
    restore can never write through a link). Git commit/branch are recorded for every
    git work tree the files live in. On any error the partial point is removed.
    """
    created_at = clock.time()
    point_id = new_point_id(created_at)
    target = point_dir(store_dir, point_id)
    try:
        files = await asyncio.to_thread(_preserve_all, target, paths)
    except BaseException:
        await asyncio.to_thread(shutil.rmtree, target, True)
        raise
    roots = tuple(sorted({str(Path(f.path).parent) for f in files}))
    return RollbackPoint(
        id=point_id,
        task=task,
        run_id=run_id,
        created_at=created_at,
        root_paths=roots,
        files=files,
        total_bytes=sum(f.size for f in files),
        git=await git_state(roots),
    )


def _preserve_all(target: Path, paths: Mapping[str | Path, Preserve]) -> tuple[PreservedFile, ...]:
    (target / FILES_DIR).mkdir(parents=True)
    return tuple(
        _preserve(Path(path), method, target / FILES_DIR / str(n))
        for n, (path, method) in enumerate(sorted(paths.items(), key=lambda kv: str(kv[0])))
    )


def _preserve(path: Path, method: Preserve, stored: Path) -> PreservedFile:
    if not path.is_absolute():
        raise RollbackError(f"cannot preserve {str(path)!r}: path is not absolute")
    try:
        st = path.lstat()
    except FileNotFoundError:
        return PreservedFile(path=str(path), existed=False)
    if not stat.S_ISREG(st.st_mode):
        raise RollbackError(f"cannot preserve {str(path)!r}: not a regular file")
    used = _store_copy(path, method, stored)
    return PreservedFile(
        path=str(path),
        existed=True,
        stored=str(stored),
        method=used,
        sha256=sha256_file(stored),  # hash what was kept: that is what restore will write
        size=stored.stat().st_size,
        mode=stat.S_IMODE(st.st_mode),
        mtime_ns=st.st_mtime_ns,
        atime_ns=st.st_atime_ns,
        uid=st.st_uid,
        gid=st.st_gid,
    )


def _store_copy(path: Path, method: Preserve, stored: Path) -> str:
    if method is Preserve.LINK:
        try:
            os.link(path, stored, follow_symlinks=False)
            return Preserve.LINK.value
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise
    shutil.copy2(path, stored, follow_symlinks=False)
    return Preserve.COPY.value


def verify(point: RollbackPoint) -> list[str]:
    """Problems with the preserved data (empty when restorable). Blocking: hashes files."""
    problems: list[str] = []
    for f in point.files:
        if f.existed:
            problem = _check(f)
            if problem:
                problems.append(problem)
    return problems


def _check(f: PreservedFile) -> str | None:
    stored = Path(f.stored)
    if not stored.is_file():
        return f"preserved copy of {f.path} is missing ({f.stored})"
    if stored.stat().st_size != f.size or sha256_file(stored) != f.sha256:
        return f"preserved copy of {f.path} does not match its checksum (tampered: {f.stored})"
    return None


@dataclass(frozen=True, slots=True)
class RestoreReport:
    """What a restore did: paths written back and paths removed (recorded as absent)."""

    restored: tuple[str, ...]
    removed: tuple[str, ...]


def restore(point: RollbackPoint) -> RestoreReport:
    """Put every listed file back exactly (bytes, mode, mtime; owner when running as root).

    Refuses with :class:`RollbackIntegrityError` before touching anything when
    :func:`verify` finds a problem. Each file is written to a temporary name and renamed
    into place, so a crash never leaves a half-written original. Idempotent: preserved
    copies are never consumed. Blocking.
    """
    problems = verify(point)
    if problems:
        raise RollbackIntegrityError(point.id, problems)
    restored, removed = [], []
    for f in point.files:
        if f.existed:
            _put_back(f)
            restored.append(f.path)
        elif _remove_if_present(Path(f.path)):
            removed.append(f.path)
    return RestoreReport(tuple(restored), tuple(removed))


def _put_back(f: PreservedFile) -> None:
    path = Path(f.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.wk-restore-{uuid.uuid4().hex[:8]}")
    try:
        # Always a copy, never a link: the restored file must not share the preserved
        # inode, or a later in-place change would corrupt the point.
        shutil.copyfile(f.stored, tmp)
        if os.geteuid() == 0:
            os.chown(tmp, f.uid, f.gid)
        os.chmod(tmp, f.mode)
        os.utime(tmp, ns=(f.atime_ns, f.mtime_ns))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _remove_if_present(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
