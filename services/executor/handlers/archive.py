"""The backup archive: a tar.gz of members plus ``manifest.json`` with a sha256 per member.

Members are ``files/<n>/<relative path>`` (files of the n-th source root),
``redis/<n>.dump`` (a key's DUMP payload) and ``postgres/<schema>.<table>.copy`` (a table
in COPY binary format). The manifest comes last, because it carries every member's hash.

:func:`verify` reads a whole archive before anyone writes anything: every entry must be a
regular file listed in the manifest with the same size and sha256, and every listed
member must be present. Anything else — a flipped byte, an edited manifest, an extra or
missing member, a link or device entry, a corrupt gzip stream — is an
:class:`~services.executor.handlers.archive_crypto.ArchiveError`.
Blocking throughout: call through ``asyncio.to_thread``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.executor.handlers.archive_crypto import CHUNK, ArchiveError

MANIFEST: Final = "manifest.json"
FORMAT: Final = "watchkeeper-backup"
MAX_MANIFEST_BYTES: Final = 64 << 20
GZ_LEVEL: Final = 6


class Member(BaseModel):
    """One archive member as the manifest lists it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    kind: Literal["file", "redis", "postgres"]
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    root: str = ""  # file: the source root it came from
    path: str = ""  # file: relative to root
    mode: int = 0o644
    mtime_ns: int = 0
    key_hex: str = ""  # redis: the key's bytes in hex
    ttl_ms: int = -1  # redis: remaining TTL at backup time (-1: none)
    table_schema: str = ""  # postgres
    table: str = ""
    rows: int = 0


class Manifest(BaseModel):
    """The archive's table of contents."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    format: Literal["watchkeeper-backup"] = FORMAT
    version: Literal[1] = 1
    task: str
    run_id: str
    created_at: float
    members: list[Member]

    def to_bytes(self) -> bytes:
        """Canonical JSON (sorted keys), so its sha256 is stable."""
        return json.dumps(self.model_dump(), sort_keys=True, indent=1).encode()


class _Hashing(io.RawIOBase):
    """Reads through to ``inner`` while hashing what was read."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner, self.digest, self.size = inner, hashlib.sha256(), 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self.inner.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data


class ArchiveWriter:
    """Adds members to an open tar.gz and remembers their hashes for the manifest."""

    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar = tar
        self.members: list[Member] = []

    def add_stream(self, name: str, src: IO[bytes], size: int, **meta: Any) -> Member:
        """Add ``size`` bytes of ``src`` as ``name``; ``meta`` fills the manifest entry."""
        info = tarfile.TarInfo(name)
        info.size, info.mode = size, meta.get("mode", 0o644) & 0o7777
        info.mtime = meta.get("mtime_ns", 0) // 1_000_000_000
        hashing = _Hashing(src)
        self.tar.addfile(info, hashing)
        member = Member(name=name, sha256=hashing.digest.hexdigest(), size=size, **meta)
        self.members.append(member)
        return member

    def add_bytes(self, name: str, data: bytes, **meta: Any) -> Member:
        """Add ``data`` as member ``name``."""
        return self.add_stream(name, io.BytesIO(data), len(data), **meta)

    def add_file(self, name: str, source: Path, **meta: Any) -> Member:
        """Add the file at ``source`` (its mode and mtime are recorded)."""
        with source.open("rb") as f:
            st = os.fstat(f.fileno())
            return self.add_stream(name, f, st.st_size, mode=st.st_mode & 0o7777,
                                   mtime_ns=st.st_mtime_ns, **meta)  # fmt: skip

    def finish(self, manifest: Manifest) -> bytes:
        """Append the manifest; returns its bytes (their sha256 identifies the backup)."""
        data = manifest.to_bytes()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(data)
        self.tar.addfile(info, io.BytesIO(data))
        return data


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data`` (how a manifest is identified)."""
    return hashlib.sha256(data).hexdigest()


def open_for_writing(raw: IO[bytes]) -> tarfile.TarFile:
    """A tar.gz writer on ``raw`` (a file the caller fsyncs after closing the tar)."""
    return tarfile.open(fileobj=raw, mode="w:gz", compresslevel=GZ_LEVEL)


def _entries(tar: tarfile.TarFile) -> Iterator[tuple[tarfile.TarInfo, IO[bytes]]]:
    for info in tar:
        if not info.isreg():
            raise ArchiveError(f"archive entry {info.name!r} is not a regular file")
        src = tar.extractfile(info)
        assert src is not None  # a regular file always has content
        yield info, src


def _hash(src: IO[bytes]) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while chunk := src.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _read_manifest(data: bytes) -> Manifest:
    try:
        return Manifest.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ArchiveError(f"manifest is invalid at {where or 'top'}: {first['msg']}") from None


def _scan(path: Path) -> tuple[dict[str, tuple[str, int]], bytes]:
    found: dict[str, tuple[str, int]] = {}
    manifest = b""
    with tarfile.open(path, mode="r:gz") as tar:
        for info, src in _entries(tar):
            if info.name in found or (info.name == MANIFEST and manifest):
                raise ArchiveError(f"archive entry {info.name!r} appears twice")
            if info.name == MANIFEST:
                manifest = src.read(MAX_MANIFEST_BYTES + 1)
            else:
                found[info.name] = _hash(src)
        # tarfile stops quietly at a damaged header; reading the gzip stream to its end
        # makes its CRC and length checks run, so damage anywhere is an error.
        while tar.fileobj is not None and tar.fileobj.read(CHUNK):
            continue  # the read itself is the check
    if not manifest or len(manifest) > MAX_MANIFEST_BYTES:
        raise ArchiveError("archive has no manifest (or one too large to trust)")
    return found, manifest


def _compare(manifest: Manifest, found: dict[str, tuple[str, int]]) -> None:
    listed = {m.name: m for m in manifest.members}
    if len(listed) != len(manifest.members):
        raise ArchiveError("manifest lists a member twice")
    if missing := sorted(listed.keys() - found.keys()):
        raise ArchiveError(f"members missing from the archive: {missing[:5]}")
    if extra := sorted(found.keys() - listed.keys()):
        raise ArchiveError(f"archive holds members the manifest does not list: {extra[:5]}")
    for name, (sha, size) in sorted(found.items()):
        if (listed[name].sha256, listed[name].size) != (sha, size):
            raise ArchiveError(f"member {name!r} does not match its manifest checksum")


def verify(path: Path) -> tuple[Manifest, str]:
    """The manifest of the plain tar.gz at ``path`` and its sha256, if every check passes."""
    try:
        found, data = _scan(path)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise ArchiveError(f"archive is corrupt: {exc}") from None
    manifest = _read_manifest(data)
    _compare(manifest, found)
    return manifest, sha256_hex(data)


def members(path: Path) -> Iterator[tuple[str, IO[bytes]]]:
    """(name, content) of every member but the manifest, in archive order (after
    :func:`verify`)."""
    with tarfile.open(path, mode="r:gz") as tar:
        for info, src in _entries(tar):
            if info.name != MANIFEST:
                yield info.name, src
