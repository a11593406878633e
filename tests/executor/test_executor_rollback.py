"""Rollback points around file-changing runs, and the ``run``/``rollbacks`` commands."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from services.executor.service import Executor
from shared.contract.keys import Keys
from shared.runtime.redis import Redis
from tests.executor.executor_support import (
    executor_settings,
    make_config,
    make_due,
    publish_due,
    results,
    wait_results,
)
from tests.support.processes import cli_env, run_cli


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """relative path → (sha256, mode) of every file under ``root``."""
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mode)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small data folder: logs to delete, text to rewrite, a nested file."""
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    (root / "a.log").write_bytes(b"old log\n" * 100)
    (root / "notes.txt").write_text("keep me exactly\n")
    (root / "sub" / "b.log").write_bytes(os.urandom(4096))
    (root / "notes.txt").chmod(0o640)
    return root


@pytest.fixture
async def executor(r: Redis, keys: Keys, tmp_path: Path) -> AsyncIterator[Executor]:
    ex = Executor(r, make_config(keys, tmp_path))
    await ex.start()
    yield ex
    await ex.drain(0)


async def run_files(
    r: Redis, keys: Keys, ex: Executor, tree: Path, rollback: str, fail: bool = True
) -> None:
    before = len(await results(r, keys))
    params = {"root": str(tree), "fail": fail}
    await publish_due(r, keys, make_due("t_files", params=params, rollback=rollback))
    await ex.run_once(block_ms=20)
    await wait_results(r, keys, before + 1)


async def test_auto_rollback_leaves_the_tree_byte_identical(
    r: Redis, keys: Keys, executor: Executor, tree: Path
) -> None:
    before = snapshot(tree)
    await run_files(r, keys, executor, tree, rollback="auto")
    [result] = await results(r, keys)
    assert result.status == "rolled_back"
    assert result.rollback_id is not None
    assert result.error is not None and "failed after changing files" in result.error["message"]
    assert snapshot(tree) == before
    assert not (tree / "new.txt").exists()  # created by the run, removed by the restore


async def test_success_keeps_changes_and_records_the_point(
    r: Redis, keys: Keys, executor: Executor, tree: Path
) -> None:
    await run_files(r, keys, executor, tree, rollback="auto", fail=False)
    [result] = await results(r, keys)
    assert result.status == "succeeded"
    assert result.rollback_id is not None
    assert not (tree / "a.log").exists()
    assert await r.zscore(keys.rollbacks, result.rollback_id) is not None


async def test_rollback_off_preserves_nothing(
    r: Redis, keys: Keys, executor: Executor, tree: Path
) -> None:
    await run_files(r, keys, executor, tree, rollback="off")
    [result] = await results(r, keys)
    assert (result.status, result.rollback_id) == ("failed", None)
    assert await r.zcard(keys.rollbacks) == 0


# -- the commands, as real processes -------------------------------------------------


@pytest.fixture
def cli_config(redis_url: str, keys: Keys, tmp_path: Path, tree: Path) -> Path:
    settings = executor_settings(tmp_path)
    body = {"namespace": keys.ns, "executor": settings,
            "tasks": {"tidy": {"handler": "t_files", "params": {"root": str(tree)}}}}  # fmt: skip
    path = tmp_path / "cli.yml"
    path.write_text(yaml.safe_dump(body))
    return path


async def watchkeeper(config: Path, redis_url: str, *args: str) -> tuple[int, str]:
    """Run the ``watchkeeper`` command; returns (exit code, stdout+stderr)."""
    return await run_cli(*args, "-c", str(config), env=cli_env(redis_url), timeout_s=30)


async def test_dry_run_prints_the_plan_and_changes_nothing(
    cli_config: Path, redis_url: str, tree: Path
) -> None:
    before = snapshot(tree)
    code, out = await watchkeeper(cli_config, redis_url, "run", "tidy", "--dry-run")
    assert code == 0, out
    assert "4 planned action(s), nothing done" in out
    assert f"delete   {tree / 'a.log'}" in out
    assert f"write    {tree / 'new.txt'}" in out
    assert snapshot(tree) == before


async def test_manual_restore_from_the_command_line(
    r: Redis, keys: Keys, executor: Executor, tree: Path, cli_config: Path, redis_url: str
) -> None:
    before = snapshot(tree)
    await run_files(r, keys, executor, tree, rollback="manual")
    [result] = await results(r, keys)
    assert result.status == "failed" and result.rollback_id
    assert snapshot(tree) != before
    code, out = await watchkeeper(cli_config, redis_url, "rollbacks", "list")
    assert code == 0 and result.rollback_id in out, out
    code, out = await watchkeeper(cli_config, redis_url, "rollbacks", "list", "-o", "json")
    [point] = json.loads(out)
    assert (point["id"], point["files"], point["run_id"]) == (result.rollback_id, 4, result.run_id)
    code, out = await watchkeeper(cli_config, redis_url, "rollbacks", "restore", result.rollback_id)
    assert code == 0, out
    assert snapshot(tree) == before


async def test_tampered_point_is_refused(
    r: Redis, keys: Keys, executor: Executor, tree: Path, cli_config: Path, redis_url: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    await run_files(r, keys, executor, tree, rollback="manual")
    [result] = await results(r, keys)
    assert result.rollback_id
    stored = [p for p in (tmp_path / "rollbacks" / result.rollback_id).rglob("*") if p.is_file()]
    assert stored
    stored[0].write_bytes(b"tampered")
    changed = snapshot(tree)
    code, out = await watchkeeper(cli_config, redis_url, "rollbacks", "verify", result.rollback_id)
    assert code == 1 and "restore refused" in out
    code, out = await watchkeeper(cli_config, redis_url, "rollbacks", "restore", result.rollback_id)
    assert code == 1
    assert snapshot(tree) == changed  # nothing half-restored


async def test_prune_by_count_then_by_size_keeps_the_newest(
    r: Redis, keys: Keys, executor: Executor, tree: Path, cli_config: Path, redis_url: str
) -> None:
    for _ in range(3):
        await run_files(r, keys, executor, tree, rollback="manual")
    ids = [x.rollback_id for x in await results(r, keys)]
    code, out = await watchkeeper(cli_config, redis_url, "rollbacks", "prune", "--max-count", "2")
    assert code == 0 and "pruned 1 rollback point(s)" in out and ids[0] in out
    code, out = await watchkeeper(cli_config, redis_url, "rollbacks", "prune", "--max-bytes", "0")
    assert code == 0 and "pruned 1" in out and ids[1] in out
    members = [m.decode() for m in await r.zrange(keys.rollbacks, 0, -1)]
    assert members == [ids[2]]
