"""Run artifacts are pruned by executor.artifacts_max_age when an executor starts."""

from __future__ import annotations

import os
from pathlib import Path

from services.executor.handlers.artifact_prune import expired
from services.executor.service import Executor
from shared.contract.keys import Keys
from shared.runtime.redis import Redis
from tests.executor.executor_support import make_config
from tests.executor.handlers.fs_support import DAY, NOW, put


def test_expired_picks_folders_past_the_age() -> None:
    folders = [("a", NOW - 3 * DAY), ("b", NOW - DAY), ("c", NOW - 2 * DAY - 1)]
    assert expired(folders, NOW, 2 * DAY) == ["a", "c"]
    assert expired(folders, NOW, 10 * DAY) == []


def _age(path: Path, days: float) -> None:
    when = NOW - days * DAY
    os.utime(path, (when, when))


async def test_executor_start_prunes_old_run_folders_only(
    r: Redis, keys: Keys, tmp_path: Path
) -> None:
    artifacts = tmp_path / "artifacts"
    put(artifacts / "old_run/manifest.json", b"{}")
    put(artifacts / "new_run/manifest.json", b"{}")
    put(tmp_path / "elsewhere/keep.txt", b"k")
    (artifacts / "linked").symlink_to(tmp_path / "elsewhere")
    _age(artifacts / "old_run", 40)
    _age(tmp_path / "elsewhere", 40)
    executor = Executor(r, make_config(keys, tmp_path, artifacts_max_age="30d"))
    await executor.start()
    assert sorted(p.name for p in artifacts.iterdir()) == ["linked", "new_run"]
    assert (tmp_path / "elsewhere/keep.txt").read_bytes() == b"k"
