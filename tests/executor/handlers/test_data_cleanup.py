"""data_cleanup on a real tree: exact files deleted/compressed/deduplicated, real bytes freed."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from services.executor.handlers import registry
from services.executor.handlers.base import ParamsError
from tests.executor.handlers.fs_support import make_ctx, plan, put, run, total_size, tree


def _fixture(root: Path) -> None:
    put(root / "parquet/old.parquet", b"o" * 3000, age_days=100)
    put(root / "parquet/mid.parquet", b"m" * 5000, age_days=10)
    put(root / "parquet/new.parquet", b"n" * 700, age_days=1)
    put(root / "parquet/sub/deep_old.parquet", b"d" * 1200, age_days=95)
    put(root / "parquet/notes.txt", b"t" * 900, age_days=200)  # glob does not match
    put(root / "parquet/done.parquet.gz", b"z" * 80, age_days=30)  # already compressed


PARAMS = {"rules": [{"root": "parquet", "glob": "*.parquet", "older_than": "90d",
                     "compress_after": "7d"}]}  # fmt: skip


async def test_deletes_and_compresses_exactly_the_aged_files(tmp_path: Path) -> None:
    _fixture(tmp_path)
    before = total_size(tmp_path)
    mid_mtime = (tmp_path / "parquet/mid.parquet").stat().st_mtime_ns
    out = await run("data_cleanup", make_ctx([tmp_path]), PARAMS)
    assert sorted(tree(tmp_path)) == [
        "parquet/done.parquet.gz", "parquet/mid.parquet.gz", "parquet/new.parquet",
        "parquet/notes.txt",
    ]  # fmt: skip
    gz = tmp_path / "parquet/mid.parquet.gz"
    assert gzip.decompress(gz.read_bytes()) == b"m" * 5000
    assert gz.stat().st_mtime_ns == mid_mtime
    assert not [name for name in tree(tmp_path) if name.endswith(".partial")]
    assert out.metrics["files_processed"] == 3
    assert out.metrics["files_deleted"] == 2 and out.metrics["files_compressed"] == 1
    assert out.metrics["bytes_freed"] == before - total_size(tmp_path)
    assert out.metrics["bytes_freed"] > 3000 + 1200


async def test_duplicates_keep_the_oldest_copy(tmp_path: Path) -> None:
    put(tmp_path / "d/a.csv", b"same-content", age_days=3)
    put(tmp_path / "d/b.csv", b"same-content", age_days=5)  # oldest: kept
    put(tmp_path / "d/x/c.csv", b"same-content", age_days=1)
    put(tmp_path / "d/e.csv", b"other-conten", age_days=9)  # same size, other content
    before = total_size(tmp_path)
    out = await run("data_cleanup", make_ctx([tmp_path]),
                    {"rules": [{"root": "d", "glob": "*.csv", "deduplicate": True}]})  # fmt: skip
    assert sorted(tree(tmp_path)) == ["d/b.csv", "d/e.csv"]
    assert out.metrics["duplicates_removed"] == 2
    assert out.metrics["bytes_freed"] == before - total_size(tmp_path) == 24


async def test_dry_run_and_plan_change_nothing(tmp_path: Path) -> None:
    _fixture(tmp_path)
    snapshot = tree(tmp_path)
    actions = await plan("data_cleanup", make_ctx([tmp_path]), PARAMS)
    out = await run("data_cleanup", make_ctx([tmp_path], dry_run=True), PARAMS)
    assert tree(tmp_path) == snapshot
    assert sorted((a.action, Path(a.path).name) for a in actions) == [
        ("compress", "mid.parquet"), ("delete", "deep_old.parquet"),
        ("delete", "old.parquet"), ("write", "mid.parquet.gz"),
    ]  # fmt: skip
    assert "nothing changed" in out.message


async def test_an_existing_gz_is_never_overwritten(tmp_path: Path) -> None:
    put(tmp_path / "d/a.log", b"a" * 100, age_days=10)
    put(tmp_path / "d/a.log.gz", b"precious", age_days=1)
    with pytest.raises(Exception, match="exists already"):
        await run("data_cleanup", make_ctx([tmp_path]),
                  {"rules": [{"root": "d", "glob": "a.log", "compress_after": "1d"}]})  # fmt: skip
    assert (tmp_path / "d/a.log.gz").read_bytes() == b"precious"
    assert (tmp_path / "d/a.log").read_bytes() == b"a" * 100


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"root": "d"}, "needs older_than"),
        ({"root": "d", "older_than": "1d", "compress_after": "2d"}, "shorter than"),
        ({"root": "d", "older_than": "1d", "bogus": 1}, "bogus"),
        ({"root": "d", "older_than": "soon"}, "older_than"),
        ({"root": "d", "older_than": "1d", "glob": "../*"}, "glob"),
    ],
)
def test_bad_params_name_the_field(rule: dict[str, object], field: str) -> None:
    spec = registry.get("data_cleanup")
    assert spec is not None
    with pytest.raises(ParamsError, match=field):
        spec.parse_params({"rules": [rule]})
