"""Rollback points on a real filesystem: preserve, change, verify, restore byte-identically."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from shared.contract.codec import pack, unpack
from shared.runtime.clock import FakeClock
from shared.runtime.rollbacks.points import (
    Preserve,
    RollbackError,
    RollbackIntegrityError,
    RollbackPoint,
    create_point,
    restore,
    verify,
)

Snapshot = dict[str, tuple[str, int, int]]


def snapshot(root: Path) -> Snapshot:
    """Relative path → (sha256, permission bits, mtime_ns) of every file under ``root``."""
    result: Snapshot = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        st = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        result[path.relative_to(root).as_posix()] = (digest, st.st_mode & 0o7777, st.st_mtime_ns)
    return result


def _inode(path: str | Path) -> int:
    return os.stat(path).st_ino


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)


def _git_repo(work: Path, *, branch: str) -> str:
    """Make ``work`` a git work tree with one commit on ``branch``; return the commit."""
    git = ["git", "-C", str(work), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q", "-b", branch], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True)
    return head.stdout.strip()


@pytest.fixture
def work(tmp_path: Path) -> Path:
    root = tmp_path / "work"
    (root / "logs" / "old").mkdir(parents=True)
    (root / "logs" / "old" / "app.1.log").write_bytes(os.urandom(4096))
    (root / "logs" / "app.log").write_bytes(b"line\n" * 1000)
    (root / "config.ini").write_text("[main]\nlevel = info\n")
    os.chmod(root / "config.ini", 0o640)
    os.utime(root / "config.ini", ns=(1_600_000_000_000_000_000, 1_600_000_000_123_456_789))
    return root


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "rollbacks"


def _plan(work: Path) -> dict[str | Path, Preserve]:
    return {
        work / "logs" / "old" / "app.1.log": Preserve.LINK,  # deleted
        work / "logs" / "app.log": Preserve.LINK,  # replaced by rename
        work / "config.ini": Preserve.COPY,  # modified in place
        work / "created.txt": Preserve.COPY,  # does not exist yet
    }


def _run_handler(work: Path) -> None:
    """Stand-in for a file-changing handler: delete, replace, edit in place, create."""
    shutil.rmtree(work / "logs" / "old")
    tmp = work / "logs" / "app.log.new"
    tmp.write_bytes(b"rotated\n")
    os.replace(tmp, work / "logs" / "app.log")
    with (work / "config.ini").open("r+b") as fh:
        fh.write(b"[MAIN]")
    os.chmod(work / "config.ini", 0o600)
    (work / "created.txt").write_text("new")


async def test_restore_after_changes_is_byte_identical(work: Path, store: Path) -> None:
    before = snapshot(work)
    point = await create_point(store, _plan(work), task="cleanup", run_id="r1", clock=FakeClock())
    _run_handler(work)
    assert snapshot(work) != before

    report = restore(point)

    assert snapshot(work) == before
    assert set(report.removed) == {str(work / "created.txt")}
    assert len(report.restored) == 3


async def test_links_for_deleted_files_copies_for_in_place(work: Path, store: Path) -> None:
    inode = (work / "logs" / "app.log").stat().st_ino
    point = await create_point(store, _plan(work), task="t", run_id="r", clock=FakeClock())
    by_path = {f.path: f for f in point.files}
    linked = by_path[str(work / "logs" / "app.log")]
    copied = by_path[str(work / "config.ini")]
    assert (linked.method, _inode(linked.stored)) == ("link", inode)
    assert copied.method == "copy"
    assert _inode(copied.stored) != _inode(work / "config.ini")
    assert not by_path[str(work / "created.txt")].existed
    assert point.total_bytes == 4096 + 5000 + len("[main]\nlevel = info\n")
    assert point.created_at == FakeClock().time()
    assert point.root_paths == tuple(
        sorted({str(work), str(work / "logs"), str(work / "logs" / "old")})
    )


async def test_in_place_edit_of_a_linked_file_is_caught(work: Path, store: Path) -> None:
    """Why in-place changes need copies: a hardlink sees the edit, so verify flags it."""
    target = work / "config.ini"
    point = await create_point(
        store, {target: Preserve.LINK}, task="t", run_id="r", clock=FakeClock()
    )
    with target.open("r+b") as fh:
        fh.write(b"XX")
    stored = point.files[0].stored
    assert verify(point) == [
        f"preserved copy of {target} does not match its checksum (tampered: {stored})"
    ]


async def test_tampered_copy_refuses_restore_and_names_the_file(work: Path, store: Path) -> None:
    point = await create_point(store, _plan(work), task="t", run_id="r", clock=FakeClock())
    _run_handler(work)
    changed = snapshot(work)
    preserved = next(f for f in point.files if f.path == str(work / "config.ini"))
    _write(preserved.stored, b"[main]\nlevel = debug\n")

    with pytest.raises(RollbackIntegrityError, match=r"config\.ini does not match") as info:
        restore(point)

    assert len(info.value.problems) == 1
    assert snapshot(work) == changed  # nothing was touched


async def test_missing_preserved_copy_is_reported(work: Path, store: Path) -> None:
    point = await create_point(store, _plan(work), task="t", run_id="r", clock=FakeClock())
    gone = next(f for f in point.files if f.method == "link")
    os.unlink(gone.stored)
    assert verify(point) == [f"preserved copy of {gone.path} is missing ({gone.stored})"]
    with pytest.raises(RollbackIntegrityError):
        restore(point)


async def test_restore_is_idempotent(work: Path, store: Path) -> None:
    before = snapshot(work)
    point = await create_point(store, _plan(work), task="t", run_id="r", clock=FakeClock())
    _run_handler(work)
    restore(point)
    restore(point)
    assert snapshot(work) == before
    assert verify(point) == []


async def test_point_round_trips_through_msgpack(work: Path, store: Path) -> None:
    point = await create_point(store, _plan(work), task="t", run_id="r", clock=FakeClock())
    assert RollbackPoint.from_dict(unpack(pack(point.to_dict()))) == point


async def test_directories_and_relative_paths_are_refused(work: Path, store: Path) -> None:
    with pytest.raises(RollbackError, match="not a regular file"):
        await create_point(
            store, {work / "logs": Preserve.COPY}, task="t", run_id="r", clock=FakeClock()
        )
    with pytest.raises(RollbackError, match="not absolute"):
        await create_point(
            store, {"config.ini": Preserve.COPY}, task="t", run_id="r", clock=FakeClock()
        )
    assert os.listdir(store) == []  # partial points are removed


async def test_git_state_is_recorded_for_work_trees(work: Path, store: Path) -> None:
    head = _git_repo(work, branch="ops")
    point = await create_point(store, _plan(work), task="t", run_id="r", clock=FakeClock())
    assert point.git == {str(work): {"commit": head, "branch": "ops"}}


async def test_no_git_state_outside_a_work_tree(work: Path, store: Path) -> None:
    point = await create_point(store, _plan(work), task="t", run_id="r", clock=FakeClock())
    assert point.git is None
