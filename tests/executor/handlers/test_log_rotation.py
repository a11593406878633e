"""log_rotation on real files: generations shifted, gzipped, kept N; copy-truncate with a
live writer holding the log open."""

from __future__ import annotations

import asyncio
import gzip
import sys
from pathlib import Path

from tests.executor.handlers.fs_support import make_ctx, plan, put, run, total_size, tree

WRITER = """
import sys
with open(sys.argv[1], "a", buffering=1) as log:
    log.write("before rotation\\n")
    print("ready", flush=True)
    sys.stdin.readline()
    log.write("after rotation\\n")
"""


def _gen(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes())


async def test_rotates_by_size_shifts_generations_and_keeps_n(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    put(logs / "app.log", b"x" * 2048)
    put(logs / "app.log.1.gz", gzip.compress(b"gen1"), age_days=1)
    put(logs / "app.log.2.gz", gzip.compress(b"gen2"), age_days=2)
    put(logs / "app.log.3.gz", gzip.compress(b"gen3"), age_days=3)  # beyond keep=3 after shift
    put(logs / "small.log", b"tiny")  # under max_size: left alone
    before = total_size(tmp_path)
    out = await run("log_rotation", make_ctx([tmp_path]),
                    {"root": "logs", "max_size": 1024, "keep": 3})  # fmt: skip
    assert sorted(tree(logs)) == ["app.log", "app.log.1.gz", "app.log.2.gz", "app.log.3.gz",
                                  "small.log"]  # fmt: skip
    assert (logs / "app.log").read_bytes() == b""
    assert _gen(logs / "app.log.1.gz") == b"x" * 2048
    assert _gen(logs / "app.log.2.gz") == b"gen1"
    assert _gen(logs / "app.log.3.gz") == b"gen2"
    assert (logs / "small.log").read_bytes() == b"tiny"
    assert out.metrics["files_processed"] == 1 and out.metrics["generations_deleted"] == 1
    assert out.metrics["bytes_freed"] == before - total_size(tmp_path)


async def test_rotates_by_age_of_the_last_generation(tmp_path: Path) -> None:
    put(tmp_path / "a.log", b"aaa")
    put(tmp_path / "a.log.1.gz", gzip.compress(b"old"), age_days=2)
    put(tmp_path / "b.log", b"bbb")
    put(tmp_path / "b.log.1.gz", gzip.compress(b"recent"), age_days=0.5)
    put(tmp_path / "c.log", b"")  # empty: never rotated
    out = await run("log_rotation", make_ctx([tmp_path]), {"root": ".", "max_age": "1d"})
    assert out.details["rotated"] == [str(tmp_path / "a.log")]
    assert _gen(tmp_path / "a.log.2.gz") == b"old"


async def test_copy_truncate_keeps_a_live_writer_writing_into_the_log(tmp_path: Path) -> None:
    log = tmp_path / "svc.log"
    log.write_bytes(b"")
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, str(log),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert child.stdout is not None and child.stdin is not None
        async with asyncio.timeout(10):
            assert await child.stdout.readline() == b"ready\n"
        await run("log_rotation", make_ctx([tmp_path]),
                  {"root": ".", "max_size": 1, "copy_truncate": True})  # fmt: skip
        child.stdin.write(b"go\n")
        await child.stdin.drain()
        async with asyncio.timeout(10):
            assert await child.wait() == 0
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert _gen(tmp_path / "svc.log.1.gz") == b"before rotation\n"
    assert log.read_bytes() == b"after rotation\n"  # O_APPEND: no hole at the old offset


async def test_rename_mode_recreates_the_log_with_its_mode(tmp_path: Path) -> None:
    log = put(tmp_path / "m.log", b"data" * 10)
    log.chmod(0o640)
    await run("log_rotation", make_ctx([tmp_path]),
              {"root": ".", "max_size": 1, "compress": False})  # fmt: skip
    assert (tmp_path / "m.log.1").read_bytes() == b"data" * 10
    assert log.read_bytes() == b"" and (log.stat().st_mode & 0o777) == 0o640
    assert not [name for name in tree(tmp_path) if name.endswith(".rotating")]


async def test_plan_lists_new_generations_and_changes_nothing(tmp_path: Path) -> None:
    put(tmp_path / "app.log", b"x" * 50)
    put(tmp_path / "app.log.1.gz", gzip.compress(b"g1"), age_days=1)
    snapshot = tree(tmp_path)
    actions = await plan("log_rotation", make_ctx([tmp_path]), {"root": ".", "max_size": 10})
    out = await run("log_rotation", make_ctx([tmp_path], dry_run=True),
                    {"root": ".", "max_size": 10})  # fmt: skip
    assert tree(tmp_path) == snapshot
    assert [(a.action, Path(a.path).name) for a in actions] == [
        ("move", "app.log.1.gz"), ("write", "app.log.2.gz"), ("rotate", "app.log"),
    ]  # fmt: skip
    assert "nothing changed" in out.message
