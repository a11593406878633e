"""Paths in a filesystem handler's params: checked as text, then confined to ``allowed_roots``.

Two gates, both before any action. :data:`SafePath` (a pydantic type) refuses, while the
params are validated, what is wrong whatever the roots are: NUL bytes, ``..`` segments,
and percent-encoded traversal (``%2e%2e``, ``%2f``, double-encoded ``%252e``) — a path
from a URL or a web form may be decoded by someone later, so it must not decode into an
escape. :func:`confine` then resolves the path (symlinks included) and refuses anything
outside the executor's ``allowed_roots`` (:mod:`services.executor.safety`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Annotated, Final
from urllib.parse import unquote

from pydantic import AfterValidator

from services.executor.safety import ConfinementError, resolve_confined

_ENCODED: Final = re.compile(r"%[0-9A-Fa-f]{2}")
_DECODE_ROUNDS: Final = 3


def _escapes(text: str) -> bool:
    return "\x00" in text or ".." in PurePosixPath(text.replace("\\", "/")).parts


def check_path_text(path: str) -> str:
    """Return ``path`` unchanged, or raise ``ValueError`` saying why it is refused."""
    if not path:
        raise ValueError("path must not be empty")
    if "\x00" in path:
        raise ValueError(f"path {path!r} contains a NUL byte")
    if ".." in PurePosixPath(path).parts:
        raise ValueError(f"path {path!r} contains a '..' segment")
    decoded = path
    for _ in range(_DECODE_ROUNDS):
        if not _ENCODED.search(decoded):
            break
        decoded = unquote(decoded)
        if _escapes(decoded):
            raise ValueError(f"path {path!r} decodes to a traversal ({decoded!r})")
    return path


SafePath = Annotated[str, AfterValidator(check_path_text)]
"""A path that is not an escape by its text alone (see :func:`check_path_text`)."""


def check_glob(glob: str) -> str:
    """Return ``glob`` unchanged if it stays under its root, else raise ``ValueError``."""
    if not glob or "\x00" in glob or glob.startswith("/") or ".." in PurePosixPath(glob).parts:
        raise ValueError(f"glob {glob!r} must be relative, non-empty and free of '..' and NUL")
    return glob


SafeGlob = Annotated[str, AfterValidator(check_glob)]
"""A file pattern relative to a root (see :func:`services.executor.safety.iter_files`)."""


def confine(path: str, allowed_roots: Sequence[str]) -> Path:
    """The real path of ``path`` inside ``allowed_roots``, or :class:`ConfinementError`.

    A relative path is taken relative to the first allowed root (as the ``command``
    handler's ``cwd`` is). The text checks run again here, so a caller that skipped the
    params model is still safe.
    """
    try:
        check_path_text(path)
    except ValueError as exc:
        raise ConfinementError(str(exc), details={"path": path}) from None
    base = Path(allowed_roots[0]) if allowed_roots else None
    return resolve_confined(path, allowed_roots, base)


def confined_child(top: Path, relative: str, allowed_roots: Sequence[str]) -> Path:
    """``top / relative`` for a ``relative`` read from an archive, confined like any path."""
    if PurePosixPath(relative).is_absolute():
        raise ConfinementError(f"archive path {relative!r} is absolute")
    return confine(str(top / relative), allowed_roots)
