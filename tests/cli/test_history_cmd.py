"""`watchkeeper history` reads Redis, or the PostgreSQL archive when configured (and falls
back to Redis when the archive cannot be reached)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml
from click.testing import CliRunner

from services.cli.main import cli
from services.reporter.archive.schema import ident, schema_name
from services.reporter.archive.store import ArchiveStore
from services.reporter.service import Reporter
from shared.config.models import Config
from shared.contract.events import TaskResult
from shared.contract.keys import Keys
from shared.runtime.embedded import free_port
from shared.runtime.redis import client

NOW = time.time()


def result(n: int, task: str, status: str, age_s: float) -> TaskResult:
    finished = NOW - age_s
    return TaskResult(
        run_id=f"{task}:{n}", task=task, handler="command", attempt=1, trigger="schedule",
        scheduled_for=finished - 5, status=status, started_at=finished - 5,
        finished_at=finished, duration_s=5.0, executor="e1", message=f"run {n}",
        error=None if status == "succeeded" else {"type": "HandlerError", "message": "disk full"},
    )  # fmt: skip


RESULTS = [
    result(1, "backup", "succeeded", 3 * 86400),
    result(2, "backup", "failed", 3600),
    result(3, "cleanup", "succeeded", 1800),
    result(4, "backup", "succeeded", 60),
]


def record(redis_url: str, keys: Keys, results: list[TaskResult]) -> None:
    async def main() -> None:
        r = client(redis_url)
        for one in results:
            await Reporter(r, Config(namespace=keys.ns)).record(one)
        await r.aclose()

    asyncio.run(main())


def history(tmp_path: Path, keys: Keys, redis_url: str, *args: str, db: str | None = None) -> Any:
    cfg = tmp_path / "wk.yml"
    cfg.write_text(yaml.safe_dump({"namespace": keys.ns, "database": {"url": db}}))
    out = CliRunner().invoke(cli, ["history", "-c", str(cfg), *args], env={"REDIS_URL": redis_url})
    assert out.exit_code == 0, out.output
    return out


def runs(out: Any) -> tuple[str, list[str]]:
    body = json.loads(out.stdout)
    return body["source"], [row["run_id"] for row in body["results"]]


def test_from_redis_newest_first_with_filters(tmp_path: Path, keys: Keys, redis_url: str) -> None:
    record(redis_url, keys, RESULTS)
    assert runs(history(tmp_path, keys, redis_url, "-o", "json")) == (
        "redis", ["backup:4", "cleanup:3", "backup:2", "backup:1"],
    )  # fmt: skip
    assert runs(history(tmp_path, keys, redis_url, "backup", "--since", "1d", "-o", "json")) == (
        "redis", ["backup:4", "backup:2"],
    )  # fmt: skip
    failed = history(tmp_path, keys, redis_url, "--status", "failed", "-o", "json")
    (row,) = json.loads(failed.stdout)["results"]
    assert row["error"] == {"type": "HandlerError", "message": "disk full"}
    assert runs(history(tmp_path, keys, redis_url, "--limit", "1", "-o", "json"))[1] == ["backup:4"]
    table = history(tmp_path, keys, redis_url).stdout
    assert "4 result(s) from redis" in table
    assert "disk full" in table and "cleanup:3" in table


def test_a_bad_since_is_a_usage_error(tmp_path: Path, keys: Keys, redis_url: str) -> None:
    out = CliRunner().invoke(cli, ["history", "--since", "soon"], env={"REDIS_URL": redis_url})
    assert out.exit_code == 2
    assert "--since" in out.output


@pytest.fixture
def archived(pg_dsn: str, keys: Keys) -> Iterator[str]:
    """RESULTS in the archive, plus one result that is only there (expired from Redis)."""

    async def fill() -> None:
        store = ArchiveStore(pg_dsn, keys.ns)
        await store.write([*RESULTS, result(0, "backup", "succeeded", 60 * 86400)])
        await store.close()

    async def drop() -> None:
        conn = await asyncpg.connect(pg_dsn)
        await conn.execute(f"DROP SCHEMA IF EXISTS {ident(schema_name(keys.ns))} CASCADE")
        await conn.close()

    asyncio.run(fill())
    yield pg_dsn
    asyncio.run(drop())


def test_from_the_archive_when_configured(
    tmp_path: Path, keys: Keys, redis_url: str, archived: str
) -> None:
    record(redis_url, keys, RESULTS[2:])  # Redis holds less than the archive
    out = history(tmp_path, keys, redis_url, "backup", "-o", "json", db=archived)
    assert runs(out) == ("archive", ["backup:4", "backup:2", "backup:1", "backup:0"])
    out = history(tmp_path, keys, redis_url, "--since", "2h", "-o", "json", db=archived)
    assert runs(out) == ("archive", ["backup:4", "cleanup:3", "backup:2"])
    assert "from archive" in history(tmp_path, keys, redis_url, db=archived).stdout


def test_falls_back_to_redis_when_the_archive_is_unreachable(
    tmp_path: Path, keys: Keys, redis_url: str
) -> None:
    record(redis_url, keys, RESULTS)
    down = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    out = history(tmp_path, keys, redis_url, "-o", "json", db=down)
    assert runs(out)[0] == "redis"
    assert "archive unreachable" in out.stderr


STEPS = [
    {"name": "scan", "status": "succeeded", "duration_s": 0.25, "counts": {"files": 3},
     "message": "3 files"},
    {"name": "delete", "status": "failed", "duration_s": 1.5, "counts": {}, "message": "EACCES"},
]  # fmt: skip


def _with_steps(one: TaskResult) -> TaskResult:
    return replace(one, details={"steps": STEPS})


@pytest.mark.parametrize("source", ["redis", "archive"])
def test_history_shows_each_runs_steps(
    tmp_path: Path, keys: Keys, redis_url: str, pg_dsn: str, source: str
) -> None:
    stepped = [_with_steps(RESULTS[3]), RESULTS[2]]
    record(redis_url, keys, stepped)
    db = None
    if source == "archive":

        async def fill() -> None:
            store = ArchiveStore(pg_dsn, keys.ns)
            await store.write(stepped)
            await store.close()

        asyncio.run(fill())
        db = pg_dsn
    try:
        body = json.loads(history(tmp_path, keys, redis_url, "-o", "json", db=db).stdout)
        assert body["source"] == source
        steps = {row["run_id"]: row["steps"] for row in body["results"]}
        assert steps == {"backup:4": STEPS, "cleanup:3": []}
        table = history(tmp_path, keys, redis_url, "--steps", db=db).stdout
        assert "✓ scan 0.2s (files=3) 3 files" in table and "✗ delete 1.5s EACCES" in table
        assert "EACCES" not in history(tmp_path, keys, redis_url, db=db).stdout
    finally:
        if source == "archive":
            asyncio.run(_drop_schema(pg_dsn, keys))


async def _drop_schema(dsn: str, keys: Keys) -> None:
    conn = await asyncpg.connect(dsn)
    await conn.execute(f"DROP SCHEMA IF EXISTS {ident(schema_name(keys.ns))} CASCADE")
    await conn.close()
