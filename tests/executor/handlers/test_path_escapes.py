"""Path escapes are refused before any action, by every filesystem handler, with a clear error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.executor.handlers.base import HandlerError
from tests.executor.handlers.fs_support import make_ctx, plan, put, run, tree


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """``root`` (allowed) with old data; ``outside`` and ``root_evil`` hold old files too."""
    root = tmp_path / "root"
    put(root / "data/x.log", b"x" * 100, age_days=400)
    put(tmp_path / "outside/secret.log", b"s" * 100, age_days=400)
    put(tmp_path / "root_evil/secret.log", b"e" * 100, age_days=400)
    (root / "link").symlink_to(tmp_path / "outside")
    (root / "data/file_link.log").symlink_to(tmp_path / "outside/secret.log")
    return tmp_path


ESCAPES = {
    "dotdot": ("../outside", "'..' segment"),
    "dotdot mid-path": ("data/../../outside", "'..' segment"),
    "absolute outside": ("{tmp}/outside", "outside allowed_roots"),
    "sibling with the root as prefix": ("{tmp}/root_evil", "outside allowed_roots"),
    "symlinked dir pointing out": ("link", "resolves to"),
    "NUL byte": ("data\x00/x", "NUL byte"),
    "percent-encoded dots": ("%2e%2e/outside", "decodes to a traversal"),
    "encoded dots and slash": ("%2e%2e%2foutside", "decodes to a traversal"),
    "double-encoded dots": ("%252e%252e/outside", "decodes to a traversal"),
    "encoded backslash": ("..%5coutside", "decodes to a traversal"),
}


def _params(handler: str, path: str) -> dict[str, Any]:
    return {
        "data_cleanup": {"rules": [{"root": path, "older_than": "1d"}]},
        "log_rotation": {"root": path, "glob": "*", "max_size": 1},
        "backup": {"dest": path, "files": [{"root": "data"}], "keep": 1},
        "backup-source": {"dest": "b", "files": [{"root": path}]},
        "restore": {"archive": path},
        "restore-target": {"archive": "data/x.log", "files_to": path},
    }[handler]


@pytest.mark.parametrize("kind", list(ESCAPES))
@pytest.mark.parametrize("handler", ["data_cleanup", "log_rotation", "backup", "backup-source",
                                     "restore", "restore-target"])  # fmt: skip
async def test_escape_refused_and_nothing_touched(layout: Path, handler: str, kind: str) -> None:
    path, why = ESCAPES[kind]
    snapshot = tree(layout)
    ctx = make_ctx([layout / "root"])
    name = handler.split("-")[0]
    params = _params(handler, path.format(tmp=layout))
    with pytest.raises(HandlerError, match=why):
        await plan(name, ctx, params)
    with pytest.raises(HandlerError, match=why):
        await run(name, ctx, params)
    assert tree(layout) == snapshot


async def test_a_symlinked_file_pointing_out_is_never_followed(layout: Path) -> None:
    out = await run("data_cleanup", make_ctx([layout / "root"]),
                    {"rules": [{"root": "data", "older_than": "1d"}]})  # fmt: skip
    assert out.metrics["files_deleted"] == 1
    assert sorted(tree(layout)) == ["outside/secret.log", "root/data/file_link.log", "root/link",
                                    "root_evil/secret.log"]  # fmt: skip


async def test_no_allowed_roots_refuses_everything(layout: Path) -> None:
    snapshot = tree(layout)
    with pytest.raises(HandlerError, match=r"outside allowed_roots|no base"):
        await run("data_cleanup", make_ctx([]),
                  {"rules": [{"root": str(layout / "root/data"), "older_than": "1d"}]})  # fmt: skip
    assert tree(layout) == snapshot
