"""The reporter process archives to PostgreSQL when a database is configured; the archive
also runs alone, and refuses to start without a database."""

# ruff: noqa: S608 -- SQL names the test namespace's own archive schema

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from services.reporter.archive.schema import ident, schema_name
from shared.contract.codec import encode
from shared.contract.events import TaskResult
from shared.contract.keys import Keys
from shared.runtime.redis import Redis
from tests.support.processes import cli_env, kill_all, run_cli, spawn


async def _archived(pg_dsn: str, schema: str) -> list[str]:
    conn = await asyncpg.connect(pg_dsn)
    try:
        if not await conn.fetchval("SELECT to_regclass($1)", f"{ident(schema)}.executions"):
            return []
        rows = await conn.fetch(f"SELECT run_id FROM {ident(schema)}.executions")
        return [row["run_id"] for row in rows]
    finally:
        await conn.close()


async def test_reporter_process_archives_when_a_database_is_configured(
    tmp_path: Path, r: Redis, keys: Keys, redis_url: str, pg_dsn: str
) -> None:
    config = tmp_path / "wk.yml"
    config.write_text(f"namespace: {keys.ns}\n")
    result = TaskResult(
        run_id="hc:1", task="hc", handler="system_health_check", attempt=1, trigger="manual",
        scheduled_for=1.0, status="succeeded", started_at=1.0, finished_at=2.0, duration_s=1.0,
        executor="e1",
    )  # fmt: skip
    await r.xadd(keys.results, encode(result))  # type: ignore[arg-type]
    env = cli_env(redis_url, DATABASE_URL=pg_dsn)
    proc = spawn("reporter", config, env=env, cwd=tmp_path)
    schema = schema_name(keys.ns)
    try:
        async with asyncio.timeout(30):
            while await _archived(pg_dsn, schema) != ["hc:1"]:
                assert proc.poll() is None, "the reporter exited"
                await asyncio.sleep(0.1)
        assert await r.hget(keys.result("hc:1"), "status") == b"succeeded"  # reporter too
    finally:
        kill_all([proc])
        conn = await asyncpg.connect(pg_dsn)
        await conn.execute(f"DROP SCHEMA IF EXISTS {ident(schema)} CASCADE")
        await conn.close()


async def test_archive_alone_needs_a_database(tmp_path: Path, redis_url: str) -> None:
    config = tmp_path / "wk.yml"
    config.write_text("namespace: nodb\n")
    env = cli_env(redis_url)
    env.pop("DATABASE_URL", None)
    code, out = await run_cli("archive", "-c", str(config), env=env)
    assert code == 1
    assert "the archive needs a database" in out
