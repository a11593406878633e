"""Gzip a file in place, atomically: readers see the original or the whole ``.gz``, never half.

The compressed copy is written to ``<name>.gz.partial``, fsynced, given the original's
mode and timestamps, renamed to ``<name>.gz`` (and the directory fsynced), and only then
is the original removed. A crash leaves at worst a stray ``.partial`` beside an intact
original. Blocking: call through ``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import stat
from pathlib import Path
from typing import BinaryIO, Final

from services.executor.handlers.base import HandlerError

CHUNK: Final = 1 << 20
GZ_LEVEL: Final = 6


def gz_path(path: Path) -> Path:
    """Where :func:`gzip_in_place` puts the compressed copy of ``path``."""
    return path.with_name(path.name + ".gz")


def fsync_dir(folder: Path) -> None:
    """Make a rename or unlink in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(src: BinaryIO, dest: Path, name: str, mtime: float, compress: bool) -> None:
    with dest.open("wb") as raw:
        if compress:
            with gzip.GzipFile(filename=name, mode="wb", fileobj=raw, mtime=int(mtime),
                               compresslevel=GZ_LEVEL) as gz:  # fmt: skip
                shutil.copyfileobj(src, gz, CHUNK)
        else:
            shutil.copyfileobj(src, raw, CHUNK)
        raw.flush()
        os.fsync(raw.fileno())


def atomic_copy(src: Path, dest: Path, *, compress: bool) -> os.stat_result:
    """Copy ``src`` (gzipped if ``compress``) to ``dest`` through ``dest.partial``.

    The copy gets ``src``'s mode and timestamps; ``dest`` appears whole or not at all.
    Returns ``src``'s stat as it was before copying.
    """
    partial = dest.with_name(dest.name + ".partial")
    before = src.stat()
    try:
        with src.open("rb") as f:
            _write(f, partial, src.name, before.st_mtime, compress)
        os.chmod(partial, stat.S_IMODE(before.st_mode))
        os.utime(partial, ns=(before.st_atime_ns, before.st_mtime_ns))
        os.replace(partial, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise
    return before


def gzip_in_place(path: Path) -> int:
    """Replace ``path`` by ``path.gz``; returns the bytes freed (original − compressed size).

    Refuses when ``path.gz`` exists already: overwriting it would destroy data.
    """
    target = gz_path(path)
    if target.exists():
        raise HandlerError(f"cannot compress {str(path)!r}: {str(target)!r} exists already")
    before = atomic_copy(path, target, compress=True)
    path.unlink()
    fsync_dir(path.parent)
    return before.st_size - target.stat().st_size
