"""backup → restore on real files, a real Redis and a real PostgreSQL: byte-identical round
trips, tampered or wrongly keyed archives refused with nothing written, retention."""

from __future__ import annotations

import base64
import io
import json
import tarfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from services.executor.handlers.archive_crypto import ArchiveError
from services.executor.handlers.base import HandlerError
from shared.contract.keys import Keys
from shared.runtime.redis import Redis
from tests.executor.handlers.fs_support import make_ctx, put, read, run, tree, write

KEY = base64.b64encode(bytes(range(32))).decode()
OTHER_KEY = bytes(range(1, 33)).hex()


@pytest.fixture
async def table(pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """A fresh table with typed rows (NULLs, numerics, bytes, times); dropped afterwards."""
    monkeypatch.setenv("WK_TEST_DSN", pg_dsn)
    name = f"fills_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(pg_dsn)
    await conn.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, px numeric(12,4), "
                       "note text, raw bytea, at timestamptz)")  # fmt: skip
    fill = ("SELECT g, g * 1.2345, CASE WHEN g % 3 = 0 THEN NULL ELSE 'n' || g END, "
            "decode(md5(g::text), 'hex'), '2026-01-02T03:04:05Z'::timestamptz + g * interval "
            "'1 min' FROM generate_series(1, 50) g")  # fmt: skip
    await conn.execute(f"INSERT INTO {name} {fill}")
    try:
        yield name
    finally:
        await conn.execute(f"DROP TABLE IF EXISTS {name}")
        await conn.close()


async def _rows(dsn: str, name: str) -> list[Any]:
    conn = await asyncpg.connect(dsn)
    try:
        query = f"SELECT * FROM {name} ORDER BY id"  # noqa: S608  (a test's own table)
        return [tuple(r) for r in await conn.fetch(query)]
    finally:
        await conn.close()


async def _truncate(dsn: str, name: str) -> None:
    conn = await asyncpg.connect(dsn)
    await conn.execute(f"TRUNCATE {name}")
    await conn.close()


def _source_tree(root: Path) -> None:
    put(root / "data/prices/a.csv", b"t,px\n1,100.5\n")
    put(root / "data/prices/deep/b.bin", bytes(range(256)) * 40, age_days=3)
    put(root / "data/config.yml", b"mode: live\n", age_days=1)
    (root / "data/config.yml").chmod(0o600)


def _meta(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_mode, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


async def _seed_redis(r: Redis, keys: Keys) -> list[bytes]:
    ns = keys.ns
    await r.set(f"{ns}:px:AAPL", b"189.5\x00\xff")
    await r.set(f"{ns}:px:MSFT", b"411.1", px=600_000)
    await r.hset(f"{ns}:pos:desk1", mapping={"AAPL": "100", "MSFT": "-20"})
    await r.set(f"{ns}:other", b"not matched")
    return [f"{ns}:px:AAPL".encode(), f"{ns}:px:MSFT".encode(), f"{ns}:pos:desk1".encode()]


def _backup_params(keys: Keys, table: str | None = None, **extra: Any) -> dict[str, Any]:
    patterns = [f"{keys.ns}:px:*", f"{keys.ns}:pos:*"]
    params: dict[str, Any] = {"dest": "backups", "name": "nightly",
                              "files": [{"root": "data"}], "redis_patterns": patterns}  # fmt: skip
    if table:
        params["postgres"] = {"dsn_env": "WK_TEST_DSN", "tables": [f"public.{table}"]}
    return params | extra


async def test_round_trip_is_byte_identical(
    tmp_path: Path, r: Redis, keys: Keys, table: str, pg_dsn: str
) -> None:
    _source_tree(tmp_path)
    names = await _seed_redis(r, keys)
    files_before, meta_before = tree(tmp_path / "data"), _meta(tmp_path / "data")
    dumps_before = [await r.dump(k) for k in names]
    rows_before = await _rows(pg_dsn, table)
    ctx = make_ctx([tmp_path], redis=r, artifacts=tmp_path / "artifacts")
    out = await run("backup", ctx, _backup_params(keys, table))
    assert out.metrics["files_processed"] == 3 and out.metrics["redis_keys"] == 3
    assert out.metrics["rows"] == 50
    (artifact,) = ctx.artifacts.saved
    manifest = json.loads(read(artifact))
    assert len(manifest["members"]) == 7
    # wipe everything, then restore
    for path in sorted((tmp_path / "data").rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    await r.delete(*names)
    await _truncate(pg_dsn, table)
    restored = await run("restore", make_ctx([tmp_path], redis=r), {
        "archive": out.details["archive"], "expect_manifest_sha256": out.details["manifest_sha256"],
        "postgres": {"dsn_env": "WK_TEST_DSN"},
    })  # fmt: skip
    assert restored.metrics["files_processed"] == 3 and restored.metrics["rows"] == 50
    assert tree(tmp_path / "data") == files_before
    assert _meta(tmp_path / "data") == meta_before
    assert [await r.dump(k) for k in names] == dumps_before
    assert await r.pttl(names[0]) == -1
    assert 0 < await r.pttl(names[1]) <= 600_000
    assert await _rows(pg_dsn, table) == rows_before


async def test_encrypted_round_trip_and_wrong_key_refused(
    tmp_path: Path, r: Redis, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WK_KEY", KEY)
    monkeypatch.setenv("WK_WRONG", OTHER_KEY)
    _source_tree(tmp_path)
    before = tree(tmp_path / "data")
    out = await run("backup", make_ctx([tmp_path], redis=r),
                    _backup_params(keys, redis_patterns=[], key_env="WK_KEY"))  # fmt: skip
    sealed = Path(out.details["archive"])
    assert sealed.name.endswith(".tar.gz.enc") and b"mode: live" not in read(sealed)
    target = tmp_path / "restored"
    for key_env, why in [("WK_WRONG", "authentication failed"), (None, "is encrypted")]:
        with pytest.raises(ArchiveError, match=why):
            await run("restore", make_ctx([tmp_path]), {"archive": str(sealed),
                      "key_env": key_env, "files_to": "restored"})  # fmt: skip
        assert not target.exists()
    await run("restore", make_ctx([tmp_path]),
              {"archive": str(sealed), "key_env": "WK_KEY", "files_to": "restored"})  # fmt: skip
    assert tree(target) == before
    assert KEY not in repr(out) and KEY not in str(read(sealed))


def _rewrite(archive: Path, change: Any) -> None:
    """Rebuild ``archive`` with ``change(name, data) -> data`` applied to every member."""
    with tarfile.open(archive, "r:gz") as tar:
        entries = [(m, tar.extractfile(m).read()) for m in tar]  # type: ignore[union-attr]
    with tarfile.open(archive, "w:gz") as tar:
        for info, data in entries:
            data = change(info.name, data)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _flip_member(name: str, data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1]) if name.endswith("a.csv") else data


def _edit_manifest(name: str, data: bytes) -> bytes:
    if name != "manifest.json":
        return data
    manifest = json.loads(data)
    manifest["members"][0]["sha256"] = "0" * 64
    return json.dumps(manifest).encode()


def _escape_via_manifest(name: str, data: bytes) -> bytes:
    if name != "manifest.json":
        return data
    manifest = json.loads(data)
    manifest["members"][0]["path"] = "../../outside.txt"
    return json.dumps(manifest).encode()


def _drop_member(name: str, data: bytes) -> bytes:
    return b"" if name.endswith("config.yml") else data


@pytest.mark.parametrize(
    ("tamper", "why"),
    [
        (_flip_member, "does not match its manifest checksum"),
        (_edit_manifest, "does not match its manifest checksum"),
        (_escape_via_manifest, "'..' segment"),
        (_drop_member, "does not match"),
        ("flip-gzip-byte", "corrupt"),
        ("truncate", "corrupt"),
    ],
)
async def test_tampered_archive_is_refused_and_nothing_written(
    tmp_path: Path, r: Redis, keys: Keys, tamper: Any, why: str
) -> None:
    _source_tree(tmp_path)
    names = await _seed_redis(r, keys)
    out = await run("backup", make_ctx([tmp_path], redis=r), _backup_params(keys))
    archive = Path(out.details["archive"])
    if tamper == "flip-gzip-byte":
        raw = bytearray(read(archive))
        raw[len(raw) // 2] ^= 0x40
        write(archive, bytes(raw))
    elif tamper == "truncate":
        write(archive, read(archive)[:-40])
    else:
        _rewrite(archive, tamper)
    await r.delete(*names)
    with pytest.raises(HandlerError, match=why):
        await run("restore", make_ctx([tmp_path], redis=r),
                  {"archive": str(archive), "files_to": "restored"})  # fmt: skip
    assert not (tmp_path / "restored").exists()
    assert not (tmp_path / "outside.txt").exists()
    assert await r.exists(*names) == 0


async def test_restore_refuses_existing_targets_before_writing(
    tmp_path: Path, r: Redis, keys: Keys
) -> None:
    _source_tree(tmp_path)
    await _seed_redis(r, keys)
    out = await run("backup", make_ctx([tmp_path], redis=r), _backup_params(keys))
    put(tmp_path / "data/config.yml", b"changed")
    with pytest.raises(HandlerError, match="overwrite"):
        await run("restore", make_ctx([tmp_path], redis=r), {"archive": out.details["archive"]})
    assert (tmp_path / "data/config.yml").read_bytes() == b"changed"
    put(tmp_path / "restored/x", b"")
    with pytest.raises(HandlerError, match="redis_replace"):  # keys still exist
        await run("restore", make_ctx([tmp_path], redis=r),
                  {"archive": out.details["archive"], "files_to": "restored2"})  # fmt: skip
    assert not (tmp_path / "restored2").exists()


async def test_retention_keeps_the_newest_n(tmp_path: Path) -> None:
    put(tmp_path / "data/a.txt", b"a")
    for n in range(4):
        old = put(tmp_path / f"backups/nightly-old{n}.tar.gz", b"x" * 10, age_days=10 - n)
        assert old.exists()
    put(tmp_path / "backups/other-1.tar.gz", b"not ours", age_days=30)
    out = await run("backup", make_ctx([tmp_path], run_id="r5"),
                    {"dest": "backups", "name": "nightly", "files": [{"root": "data"}],
                     "keep": 2})  # fmt: skip
    assert sorted(tree(tmp_path / "backups")) == [
        "nightly-old3.tar.gz", "nightly-r5.tar.gz", "other-1.tar.gz",
    ]  # fmt: skip
    assert out.metrics["archives_deleted"] == 3 and out.metrics["bytes_freed"] == 30
    out = await run("backup", make_ctx([tmp_path], run_id="r6"),
                    {"dest": "backups", "name": "nightly", "files": [{"root": "data"}],
                     "keep_days": "5d"})  # fmt: skip
    assert sorted(tree(tmp_path / "backups")) == [
        "nightly-r5.tar.gz", "nightly-r6.tar.gz", "other-1.tar.gz",
    ]  # fmt: skip


async def test_plan_and_dry_run_change_nothing(tmp_path: Path) -> None:
    put(tmp_path / "data/a.txt", b"a")
    put(tmp_path / "backups/nightly-old.tar.gz", b"x", age_days=40)
    snapshot = tree(tmp_path)
    params = {"dest": "backups", "name": "nightly", "files": [{"root": "data"}], "keep": 1}
    spec_out = await run("backup", make_ctx([tmp_path], dry_run=True), params)
    assert "dry run" in spec_out.message
    assert tree(tmp_path) == snapshot
    assert "backups/nightly-old.tar.gz" in snapshot
