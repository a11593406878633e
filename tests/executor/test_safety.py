"""Filesystem confinement: resolve_confined and iter_files on a real tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.executor.handlers.base import HandlerError
from services.executor.safety import ConfinementError, iter_files, resolve_confined


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """root/ with files, a nested dir, a symlink out, a symlinked dir out, a link inside."""
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "secret.log").write_text("s")
    (outside / "deep" / "x.log").write_text("x")
    (root / "a.log").write_text("a")
    (root / "b.txt").write_text("b")
    (root / "sub" / "c.log").write_text("c")
    (root / "escape.log").symlink_to(outside / "secret.log")
    (root / "escape_dir").symlink_to(outside / "deep")
    (root / "inner.log").symlink_to(root / "sub" / "c.log")
    (root / "dangling.log").symlink_to(root / "nope")
    return root


def test_path_inside_root_resolves(tree: Path) -> None:
    assert resolve_confined(str(tree / "sub" / "c.log"), [str(tree)]) == tree / "sub" / "c.log"
    assert resolve_confined(str(tree), [str(tree)]) == tree


def test_path_that_does_not_exist_yet_is_allowed_inside(tree: Path) -> None:
    assert resolve_confined(str(tree / "new" / "f"), [str(tree)]) == tree / "new" / "f"


def test_outside_path_is_refused_with_path_and_roots(tree: Path) -> None:
    with pytest.raises(ConfinementError) as info:
        resolve_confined("/etc/passwd", [str(tree)])
    assert isinstance(info.value, HandlerError)
    assert str(info.value) == f"path '/etc/passwd' is outside allowed_roots ['{tree}']"


@pytest.mark.parametrize("relative", ["../outside/secret.log", "sub/../../outside"])
def test_dotdot_escape_is_refused(tree: Path, relative: str) -> None:
    with pytest.raises(ConfinementError, match="is outside allowed_roots"):
        resolve_confined(relative, [str(tree)], base=tree)


def test_symlink_pointing_out_is_refused(tree: Path) -> None:
    with pytest.raises(ConfinementError, match=r"resolves to .*secret\.log"):
        resolve_confined(str(tree / "escape.log"), [str(tree)])
    with pytest.raises(ConfinementError):
        resolve_confined(str(tree / "escape_dir" / "x.log"), [str(tree)])


def test_sibling_with_common_prefix_is_not_inside(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data2").mkdir()
    with pytest.raises(ConfinementError):
        resolve_confined(str(tmp_path / "data2" / "f"), [str(tmp_path / "data")])


def test_relative_path_without_base_and_empty_roots_are_refused(tree: Path) -> None:
    with pytest.raises(ConfinementError, match="relative"):
        resolve_confined("a.log", [str(tree)])
    with pytest.raises(ConfinementError):
        resolve_confined(str(tree / "a.log"), [])


def test_root_given_through_a_symlink_still_confines(tmp_path: Path, tree: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(tree)
    assert resolve_confined(str(alias / "a.log"), [str(alias)]) == tree / "a.log"


def test_iter_files_never_leaves_the_roots(tree: Path) -> None:
    found = [p.relative_to(tree).as_posix() for p in iter_files(str(tree), "*.log", [str(tree)])]
    assert found == ["a.log", "inner.log", "sub/c.log"]


def test_iter_files_glob_with_slash_matches_relative_path(tree: Path) -> None:
    found = list(iter_files(str(tree), "sub/*", [str(tree)]))
    assert found == [tree / "sub" / "c.log"]


def test_iter_files_refuses_a_root_outside(tree: Path) -> None:
    with pytest.raises(ConfinementError):
        list(iter_files(str(tree.parent / "outside"), "*", [str(tree)]))


def test_iter_files_through_symlinked_root_dir(tree: Path) -> None:
    found = list(iter_files(str(tree / "escape_dir"), "*", [str(tree), str(tree.parent)]))
    assert [os.path.basename(p) for p in found] == ["x.log"]
