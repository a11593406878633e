"""RollbackStore on real Redis and a real filesystem: plan → point → restore, list, prune."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from services.executor.handlers.base import PlannedAction
from services.executor.rollback.store import RollbackStore, preserve_plan
from shared.contract.keys import Keys
from shared.runtime.clock import FakeClock
from shared.runtime.redis import Redis
from shared.runtime.rollbacks import (
    RollbackError,
    RollbackIntegrityError,
    RollbackNotFound,
    select_prunable,
)

DAY = 24 * 3600


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Relative path → (sha256, permission bits) of every file under ``root``."""
    return {
        p.relative_to(root).as_posix(): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mode & 0o7777,
        )
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _exists(path: Path) -> bool:
    return path.exists()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(r: Redis, keys: Keys, tmp_path: Path, clock: FakeClock) -> RollbackStore:
    return RollbackStore(r, keys, tmp_path / "rollbacks", clock)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    _write(root / "old.csv", b"a,b\n" * 500)
    _write(root / "keep.conf", b"x=1\n")
    os.chmod(root / "keep.conf", 0o600)
    return root


def _plan(data: Path) -> list[PlannedAction]:
    return [
        PlannedAction(action="delete", path=str(data / "old.csv"), bytes=2000),
        PlannedAction(action="write", path=str(data / "keep.conf")),
    ]


def _act(data: Path) -> None:
    (data / "old.csv").unlink()
    with (data / "keep.conf").open("r+b") as fh:
        fh.write(b"x=2")


async def _point(store: RollbackStore, root: Path, size: int, clock: FakeClock) -> str:
    _write(root / f"f{clock.time()}", b"z" * size)
    action = PlannedAction(action="delete", path=str(root / f"f{clock.time()}"))
    point = await store.create_for_plan([action], "t", "r")
    assert point is not None
    return point.id


async def test_plan_point_restore_gives_back_the_same_tree(
    store: RollbackStore, data: Path, keys: Keys, r: Redis
) -> None:
    before = snapshot(data)
    point = await store.create_for_plan(_plan(data), "cleanup", "run-1")
    assert point is not None
    _act(data)
    assert snapshot(data) != before

    report = await store.restore(point.id)

    assert snapshot(data) == before
    assert sorted(report.restored) == sorted(a.path for a in _plan(data))
    assert await r.hexists(keys.rollback(point.id), "restored_at")


async def test_saved_point_reads_back_and_lists_newest_first(
    store: RollbackStore, data: Path, clock: FakeClock
) -> None:
    first = await _point(store, data, 10, clock)
    clock.advance(60)
    second = await _point(store, data, 10, clock)
    listed = await store.list()
    assert [p.id for p in listed] == [second, first]
    assert await store.get(first) == listed[1]
    assert [p.id for p in await store.list(limit=1)] == [second]
    assert await store.get("rb-missing") is None


async def test_manual_restore_refuses_tampered_data(store: RollbackStore, data: Path) -> None:
    point = await store.create_for_plan(_plan(data), "cleanup", "run-1")
    assert point is not None
    _act(data)
    copy = next(f for f in point.files if f.path.endswith("keep.conf"))
    _write(Path(copy.stored), b"x=9")
    assert len(await store.verify(point.id)) == 1
    with pytest.raises(RollbackIntegrityError, match=r"keep\.conf"):
        await store.restore(point.id)
    assert not _exists(data / "old.csv")


async def test_unknown_and_malformed_ids_are_refused(store: RollbackStore) -> None:
    with pytest.raises(RollbackNotFound):
        await store.restore("rb-nope")
    with pytest.raises(RollbackError, match="invalid rollback point id"):
        await store.delete("..")


async def test_delete_removes_record_index_and_files(
    store: RollbackStore, data: Path, keys: Keys, r: Redis
) -> None:
    point = await store.create_for_plan(_plan(data), "cleanup", "run-1")
    assert point is not None
    assert _exists(store.store_dir / point.id)
    assert await store.delete(point.id)
    assert not _exists(store.store_dir / point.id)
    assert await r.exists(keys.rollback(point.id)) == 0
    assert await r.zcard(keys.rollbacks) == 0
    assert not await store.delete(point.id)


async def test_empty_plan_makes_no_point(store: RollbackStore, keys: Keys, r: Redis) -> None:
    assert await store.create_for_plan([], "t", "r") is None
    assert await r.zcard(keys.rollbacks) == 0


async def test_prune_by_count_keeps_the_newest(
    store: RollbackStore, data: Path, clock: FakeClock
) -> None:
    ids = []
    for _ in range(5):
        ids.append(await _point(store, data, 10, clock))
        clock.advance(1)
    removed = await store.prune(max_count=3)
    assert removed == ids[:2]
    assert [p.id for p in await store.list()] == ids[:1:-1]
    assert not _exists(store.store_dir / ids[0])


async def test_prune_by_size_removes_oldest_until_it_fits(
    store: RollbackStore, data: Path, clock: FakeClock
) -> None:
    ids = []
    for _ in range(4):
        ids.append(await _point(store, data, 1000, clock))
        clock.advance(1)
    assert await store.prune(max_total_bytes=2500) == ids[:2]
    assert {p.id for p in await store.list()} == set(ids[2:])


async def test_prune_by_age(store: RollbackStore, data: Path, clock: FakeClock) -> None:
    old = await _point(store, data, 10, clock)
    clock.advance(20 * DAY)
    recent = await _point(store, data, 10, clock)
    clock.advance(11 * DAY)
    assert await store.prune() == [old]
    assert [p.id for p in await store.list()] == [recent]


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        ({"max_age_s": 100, "max_count": 50, "max_total_bytes": 10**9}, ["a"]),
        ({"max_age_s": 10**9, "max_count": 1, "max_total_bytes": 10**9}, ["a", "b"]),
        ({"max_age_s": 10**9, "max_count": 50, "max_total_bytes": 700}, ["a", "b"]),
        ({"max_age_s": 10**9, "max_count": 50, "max_total_bytes": 10}, ["a", "b"]),
        ({"max_age_s": 10**9, "max_count": 50, "max_total_bytes": 10**9}, []),
    ],
)
def test_select_prunable_table(limits: dict[str, int], expected: list[str]) -> None:
    entries = [("c", 950.0, 600), ("a", 800.0, 100), ("b", 900.0, 300)]
    assert select_prunable(entries, now=1000.0, **limits) == expected


def test_plan_actions_map_to_link_or_copy() -> None:
    plan = [
        PlannedAction(action="delete", path="/d/a"),
        PlannedAction(action="compress", path="/d/b"),
        PlannedAction(action="rotate", path="/d/c"),
        PlannedAction(action="delete", path="/d/c"),
        PlannedAction(action="something_new", path="/d/e"),
    ]
    assert {p: m.value for p, m in preserve_plan(plan).items()} == {
        "/d/a": "link",
        "/d/b": "link",
        "/d/c": "copy",
        "/d/e": "copy",
    }
