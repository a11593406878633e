"""`watchkeeper cleanup`: a dry run counts and changes nothing; a real run removes what is
past retention in Redis and in the PostgreSQL archive."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import asyncpg
import redis
import redis.asyncio as aioredis
import yaml
from click.testing import CliRunner

from services.cli.main import cli
from services.reporter.archive.schema import ident, schema_name
from services.reporter.archive.store import ArchiveStore
from shared.contract.events import TaskResult
from shared.contract.keys import EXECUTORS_GROUP, SCHEDULER_GROUP, Keys
from shared.runtime.clock import FakeClock
from tests.cli.conftest import Invoke
from tests.shared.runtime.stream_backlog import seed

DAY = 86_400.0
NOW = 1_800_000_000.0


def result(n: int, days_ago: float) -> TaskResult:
    at = NOW - days_ago * DAY
    return TaskResult(run_id=f"t:{n}", task="t", handler="command", attempt=1,
                      trigger="schedule", scheduled_for=at, status="succeeded", started_at=at,
                      finished_at=at, duration_s=0.0, executor="e1")  # fmt: skip


async def archived(dsn: str, ns: str, *, fill: bool = False, drop: bool = False) -> list[str]:
    store = ArchiveStore(dsn, ns)
    if fill:
        await store.write([result(1, 400), result(2, 100)])
    rows = [row["run_id"] for row in await store.history(since=0, limit=10)]
    await store.close()
    if drop:
        conn = await asyncpg.connect(dsn)
        await conn.execute(f"DROP SCHEMA {ident(schema_name(ns))} CASCADE")
        await conn.close()
    return rows


def test_cleanup_dry_run_then_real(tmp_path: Path, keys: Keys, redis_url: str, pg_dsn: str) -> None:
    cfg = tmp_path / "wk.yml"
    cfg.write_text(yaml.safe_dump({
        "namespace": keys.ns, "database": {"url": pg_dsn, "retention": "365d"},
        "executor": {"rollback_dir": str(tmp_path / "rb")},
    }))  # fmt: skip
    client = redis.Redis.from_url(redis_url)
    client.hset(keys.result("old"), "finished_at", NOW - 40 * DAY)
    client.hset(keys.result("new"), "finished_at", NOW - 1 * DAY)
    assert asyncio.run(archived(pg_dsn, keys.ns, fill=True)) == ["t:2", "t:1"]
    env = {"REDIS_URL": redis_url}
    runner = CliRunner()
    args = ["cleanup", "-c", str(cfg), "--history-days", "30"]

    dry = runner.invoke(cli, [*args, "--dry-run"], env=env, obj={"clock": FakeClock(NOW)})
    assert dry.exit_code == 0, dry.output
    assert "would remove         1  results" in dry.output
    assert "would remove         1  archived executions" in dry.output
    assert client.exists(keys.result("old"))
    assert asyncio.run(archived(pg_dsn, keys.ns)) == ["t:2", "t:1"]

    real = runner.invoke(cli, args, env=env, obj={"clock": FakeClock(NOW)})
    assert real.exit_code == 0, real.output
    assert "removed         1  results" in real.output
    assert not client.exists(keys.result("old")) and client.exists(keys.result("new"))
    assert asyncio.run(archived(pg_dsn, keys.ns, drop=True)) == ["t:2"]
    client.close()


async def _seed_backlogs(redis_url: str, keys: Keys) -> None:
    r = aioredis.Redis.from_url(redis_url)
    await seed(r, keys.triggers, (SCHEDULER_GROUP,), NOW)
    await seed(r, keys.due("high"), (EXECUTORS_GROUP,), NOW, read_all=True)
    await r.aclose()


def test_cleanup_trims_consumed_streams_per_stream(
    wk: Invoke, sync_r: redis.Redis, redis_url: str, keys: Keys
) -> None:
    asyncio.run(_seed_backlogs(redis_url, keys))
    before = {s: sync_r.xlen(s) for s in (keys.triggers, keys.due("high"))}

    dry = wk("cleanup", "--dry-run", obj={"clock": FakeClock(NOW)})
    assert dry.exit_code == 0, dry.output
    assert re.search(r"would remove\s+3\s+stream triggers$", dry.output, re.M)
    assert re.search(r"would remove\s+10\s+stream due high$", dry.output, re.M)
    assert {s: sync_r.xlen(s) for s in before} == before

    done = wk("cleanup", obj={"clock": FakeClock(NOW)})
    assert done.exit_code == 0, done.output
    assert re.search(r"removed\s+3\s+stream triggers$", done.output, re.M)
    assert sync_r.xlen(keys.triggers) == 10  # pending and unread entries stay
    assert sync_r.xlen(keys.due("high")) == 3  # acked, but younger than streams.keep
