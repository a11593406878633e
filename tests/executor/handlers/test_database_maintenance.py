"""``database_maintenance`` on a real PostgreSQL (a private database per test module)."""

# ruff: noqa: S608 -- fixture SQL names the test's own freshly created tables

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from structlog.testing import capture_logs

from services.executor.handlers.base import HandlerError, ParamsError
from services.executor.handlers.pg_catalog import IndexSize, estimated_bloat
from services.executor.service import Executor
from shared.config.models import Config
from shared.contract.keys import Keys
from shared.runtime.clock import FakeClock
from shared.runtime.redis import Redis
from tests.executor.executor_support import make_config, make_due, publish_due, wait_results
from tests.executor.handlers.support import make_ctx, run_handler

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
async def db_dsn(pg_dsn: str) -> AsyncIterator[str]:
    """A database of its own: other sessions' snapshots elsewhere cannot hold back VACUUM."""
    name = f"wk_dbm_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(pg_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(pg_dsn)
    yield urlunsplit(parts._replace(path=f"/{name}"))
    await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    await admin.close()


@pytest.fixture
async def conn(db_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    c = await asyncpg.connect(db_dsn, server_settings={"timezone": "UTC"})
    yield c
    await c.close()


async def _table(conn: asyncpg.Connection, *, pk: bool = True) -> str:
    name = f"ticks_{uuid.uuid4().hex[:8]}"
    key = "id bigint PRIMARY KEY" if pk else "id bigint"
    # autovacuum off: the test, not the daemon, decides when dead tuples go
    await conn.execute(f"CREATE TABLE {name} ({key}, at timestamptz NOT NULL, v int)"
                       " WITH (autovacuum_enabled = false)")  # fmt: skip
    return name


async def _dead_tuples(conn: asyncpg.Connection, table: str) -> int:
    await conn.execute("SELECT pg_stat_force_next_flush()")  # publish this session's counts
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    return int(await conn.fetchval(
        "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = $1", table))  # fmt: skip


async def test_vacuum_reduces_dead_tuples(conn: asyncpg.Connection, db_dsn: str) -> None:
    table = await _table(conn)
    await conn.execute(f"INSERT INTO {table} SELECT g, now(), g FROM generate_series(1, 5000) g")
    await conn.execute(f"DELETE FROM {table} WHERE id % 2 = 0")
    assert await _dead_tuples(conn, table) == 2500
    ctx = make_ctx()
    outcome = await run_handler("database_maintenance", ctx, {"dsn": db_dsn, "tables": [table]})
    (before,), (after,) = outcome.details["before"], outcome.details["after"]
    assert before["dead_tuples"] == 2500
    assert after["dead_tuples"] < before["dead_tuples"]
    assert after["dead_tuples"] == await _dead_tuples(conn, table)
    assert after["live_tuples"] == 2500
    assert outcome.metrics["dead_tuples_before"] == 2500
    steps = {s["name"]: s["status"] for s in ctx.record()["steps"]}
    assert steps == {"inspect": "succeeded", "purge": "skipped", "vacuum": "succeeded",
                     "reindex": "skipped", "stats": "succeeded"}  # fmt: skip


@pytest.mark.parametrize("pk", [True, False], ids=["by-primary-key", "by-ctid"])
async def test_purge_deletes_exactly_the_old_rows_in_batches(
    conn: asyncpg.Connection, db_dsn: str, pk: bool
) -> None:
    clock = FakeClock()
    now = clock.now()
    table = await _table(conn, pk=pk)
    rows = [(i, now - timedelta(days=i % 60, minutes=1), i) for i in range(1, 1201)]
    await conn.executemany(f"INSERT INTO {table} VALUES ($1, $2, $3)", rows)
    old = {i for i, at, _ in rows if at < now - timedelta(days=30)}
    params = {"dsn": db_dsn, "tables": [table], "vacuum": False, "analyze": False,
              "purge": [{"table": table, "timestamp_column": "at", "older_than": "30d",
                         "batch_size": 250}]}  # fmt: skip
    dry = await run_handler(
        "database_maintenance", make_ctx(clock=clock), {**params, "dry_run": True}
    )
    assert dry.metrics["rows_purged"] == len(old)
    assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 1200
    ctx = make_ctx(clock=clock)
    outcome = await run_handler("database_maintenance", ctx, params)
    left = {r["id"] for r in await conn.fetch(f"SELECT id FROM {table}")}
    assert left == {i for i, _, _ in rows} - old
    assert outcome.metrics["rows_purged"] == len(old) == 600
    purge = next(s for s in ctx.record()["steps"] if s["name"] == "purge")
    assert purge["counts"] == {"rows": 600, "batches": 3}  # two full batches, a short one


async def test_bloated_index_is_rebuilt(conn: asyncpg.Connection, db_dsn: str) -> None:
    table = await _table(conn)
    await conn.execute(f"CREATE INDEX {table}_v ON {table} (v)")
    await conn.execute(f"INSERT INTO {table} SELECT g, now(), g FROM generate_series(1, 40000) g")
    await conn.execute(f"DELETE FROM {table} WHERE id % 10 <> 0")  # scattered: pages stay
    params = {"dsn": db_dsn, "tables": [table], "reindex_bloat": 0.5, "reindex_min_bytes": 0}
    outcome = await run_handler("database_maintenance", make_ctx(), params)
    rebuilt = {r["index"]: r for r in outcome.details["reindexed"]}
    assert set(rebuilt) == {f"public.{table}_pkey", f"public.{table}_v"}
    size = await conn.fetchval("SELECT pg_relation_size($1::regclass)", f"{table}_v")
    assert size < rebuilt[f"public.{table}_v"]["bytes_before"] / 3
    assert outcome.metrics["bytes_freed"] > 0
    again = await run_handler("database_maintenance", make_ctx(), params)
    assert again.details["reindexed"] == []  # a fresh index is not bloated


async def test_hostile_names_are_looked_up_not_spliced(
    conn: asyncpg.Connection, db_dsn: str
) -> None:
    table = await _table(conn)
    evil = f"{table}; DROP TABLE {table}; --"
    with pytest.raises(HandlerError, match=r"params\.tables\.0: no table"):
        await run_handler("database_maintenance", make_ctx(), {"dsn": db_dsn, "tables": [evil]})
    purge = {"table": table, "timestamp_column": "at; DROP TABLE x", "older_than": "1d"}
    with pytest.raises(HandlerError, match=r"params\.purge\.0\.timestamp_column: .* no column"):
        await run_handler("database_maintenance", make_ctx(), {"dsn": db_dsn, "purge": [purge]})
    wrong_type = {"table": table, "timestamp_column": "v", "older_than": "1d"}
    with pytest.raises(HandlerError, match="is integer, not a timestamp"):
        await run_handler(
            "database_maintenance", make_ctx(), {"dsn": db_dsn, "purge": [wrong_type]}
        )
    assert await conn.fetchval("SELECT to_regclass($1)", table) is not None


async def test_a_quoted_mixed_case_table_works(conn: asyncpg.Connection, db_dsn: str) -> None:
    await conn.execute('CREATE TABLE "Order Book" (id int, at timestamptz)')
    await conn.execute("INSERT INTO \"Order Book\" VALUES (1, now() - interval '400 days')")
    params = {"dsn": db_dsn, "tables": ["Order Book"],
              "purge": [{"table": "public.Order Book", "timestamp_column": "at",
                         "older_than": "365d"}]}  # fmt: skip
    outcome = await run_handler("database_maintenance", make_ctx(), params)
    assert outcome.metrics["rows_purged"] == 1
    assert outcome.details["after"][0]["name"] == 'public."Order Book"'


async def test_the_password_never_reaches_results_or_logs(db_dsn: str) -> None:
    parts = urlsplit(db_dsn)
    wrong = urlunsplit(parts._replace(netloc="nobody:S3cretCanary@127.0.0.1:1"))
    with capture_logs() as logs, pytest.raises(HandlerError) as caught:
        await run_handler("database_maintenance", make_ctx(), {"dsn": wrong})
    assert "cannot connect to 127.0.0.1:1/" in str(caught.value)
    assert "S3cretCanary" not in str(caught.value) + repr(caught.value.details) + repr(logs)
    with_password = urlunsplit(
        parts._replace(netloc=f"postgres:S3cretCanary@{parts.hostname}:{parts.port or 5432}")
    )
    ctx = make_ctx()
    ctx.database_url = with_password  # the config's database.url (trust auth ignores it)
    with capture_logs() as logs:
        outcome = await run_handler("database_maintenance", ctx, {"tables": [], "vacuum": False})
    assert "S3cretCanary" not in repr(outcome) + repr(logs) + repr(ctx.record())


async def test_the_dsn_can_come_from_the_environment(
    db_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WK_DESK_DB", db_dsn)
    params = {"dsn_env": "WK_DESK_DB", "vacuum": False, "analyze": False}
    outcome = await run_handler("database_maintenance", make_ctx(), params)
    assert outcome.details["database"].endswith(urlsplit(db_dsn).path)


async def test_params_are_checked() -> None:
    with pytest.raises(ParamsError, match=r"^params\.dsn: "):
        await run_handler("database_maintenance", make_ctx(), {"dsn": "mysql://x"})
    with pytest.raises(ParamsError, match=r"^params\.purge\.0\.older_than: "):
        await run_handler("database_maintenance", make_ctx(),
                          {"purge": [{"table": "t", "timestamp_column": "at"}]})  # fmt: skip
    with pytest.raises(HandlerError, match=r"set params\.dsn, database\.url or the variable WK_X"):
        await run_handler("database_maintenance", make_ctx(), {"dsn_env": "WK_X"})


def test_bloat_estimate() -> None:
    tight = IndexSize(1, "i", bytes=8192 * 25, tuples=10_000, width=4)
    assert estimated_bloat(tight) < 0.1
    loose = IndexSize(1, "i", bytes=8192 * 250, tuples=10_000, width=4)
    assert 0.85 < estimated_bloat(loose) < 0.95
    assert estimated_bloat(IndexSize(1, "i", bytes=8192, tuples=0, width=4)) == 0.0


async def test_the_executor_hands_database_url_to_the_handler(
    conn: asyncpg.Connection, db_dsn: str, r: Redis, keys: Keys, tmp_path: Path
) -> None:
    table = await _table(conn)
    await conn.execute(f"INSERT INTO {table} SELECT g, now(), g FROM generate_series(1, 10) g")
    config = make_config(keys, tmp_path).model_dump(by_alias=True)
    executor = Executor(r, Config.model_validate({**config, "database": {"url": db_dsn}}))
    await executor.start()
    params = {"tables": [table], "dsn_env": "WK_TEST_UNSET_DSN"}  # no dsn anywhere but config
    await publish_due(r, keys, make_due("database_maintenance", params=params))
    await executor.run_once(block_ms=20)
    (result,) = await wait_results(r, keys, 1, 30)
    await executor.drain(1)
    assert result.status == "succeeded", result.message
    assert result.details["after"][0]["live_tuples"] == 10
