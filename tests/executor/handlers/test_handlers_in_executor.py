"""The filesystem handlers through the real executor: rollback points cover every change."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from services.executor.service import Executor
from shared.contract.keys import Keys
from shared.runtime.redis import Redis
from tests.executor.executor_support import make_config, make_due, publish_due, wait_results
from tests.executor.handlers.fs_support import put, tree


def _data(root: Path) -> None:
    put(root / "data/old.csv", b"o" * 500, age_days=100)
    put(root / "data/mid.csv", b"m" * 800, age_days=10)
    put(root / "data/new.csv", b"n" * 10)
    put(root / "logs/app.log", b"line\n" * 100)
    put(root / "logs/app.log.1.gz", gzip.compress(b"gen1"), age_days=1)


CASES = [
    ("data_cleanup", {"rules": [{"root": "data", "older_than": "90d", "compress_after": "7d"}]}),
    ("log_rotation", {"root": "logs", "max_size": 100, "keep": 1}),
]


@pytest.mark.parametrize(("handler", "params"), CASES)
async def test_a_run_is_undone_exactly_by_its_rollback_point(
    r: Redis, keys: Keys, tmp_path: Path, handler: str, params: dict[str, Any]
) -> None:
    root = tmp_path / "work"
    _data(root)
    before = tree(root)
    executor = Executor(r, make_config(keys, tmp_path, allowed_roots=[str(root)]))
    await executor.start()
    await publish_due(r, keys, make_due(handler, params=params, rollback="manual"))
    await executor.run_once(block_ms=20)
    (result,) = await wait_results(r, keys, 1, 10)
    await executor.drain(1)
    assert result.status == "succeeded", result.message
    assert result.metrics["files_processed"] >= 1 and result.rollback_id
    assert result.details["steps"][0]["name"] == "scan"
    assert tree(root) != before
    store = executor.attempt.preserver.store
    assert store is not None
    await store.restore(result.rollback_id)
    assert tree(root) == before
