"""``database_maintenance``: purge by retention, VACUUM (ANALYZE), REINDEX of bloated indexes.

In order: table stats before → ``purge`` rules (``DELETE`` of rows whose
``timestamp_column`` is older than ``older_than``, ``batch_size`` rows per transaction,
by primary key or else by ``ctid``) → ``VACUUM (ANALYZE)`` (or ``ANALYZE`` alone) of
each table → ``REINDEX`` of btree indexes whose estimated bloat exceeds
``reindex_bloat`` → table stats after (sizes, live and dead tuples). Tables and columns
are looked up in the catalog and quoted by the server (see :mod:`.pg_catalog`).

The DSN comes from ``params.dsn``, the config's ``database.url`` or, read when the run
starts, the environment variable ``dsn_env`` (``DATABASE_URL``; this keeps the password
out of task definitions, which live in Redis and the API); its password never
reaches a result or a log line (errors are redacted, the result names host and database
only). Timestamps without time zone are read as UTC. ``dry_run`` counts the rows a
purge would delete and the indexes it would rebuild, and changes nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, Final
from urllib.parse import urlsplit

import asyncpg
from pydantic import Field

from services.executor.handlers import pg_catalog as cat
from services.executor.handlers.base import HandlerError, Outcome, RunContext
from services.executor.handlers.kit import Params
from services.executor.handlers.registry import handler
from services.executor.handlers.steps import Step
from shared.config.models import Duration
from shared.runtime.logging import redact_text

CONNECT_TIMEOUT_S: Final = 10.0
_DELETED = re.compile(r"^DELETE (\d+)$")


class PurgeRule(Params):
    """Delete rows of ``table`` whose ``timestamp_column`` is older than ``older_than``."""

    table: str = Field(min_length=1)
    timestamp_column: str = Field(min_length=1)
    older_than: Duration
    batch_size: int = Field(5000, ge=1, le=1_000_000)


class DatabaseMaintenanceParams(Params):
    """Which database and tables, and which operations (all but purge are on by default)."""

    dsn: str | None = Field(None, pattern=r"^postgres(ql)?://")
    dsn_env: str = Field("DATABASE_URL", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
    schemas: list[str] = Field(default_factory=lambda: ["public"], min_length=1)
    tables: list[str] = Field(default_factory=list)
    vacuum: bool = True
    analyze: bool = True
    reindex_bloat: float | None = Field(None, gt=0, lt=1)
    reindex_min_bytes: int = Field(1 << 20, ge=0)
    purge: list[PurgeRule] = Field(default_factory=list)
    statement_timeout: Duration = 3600.0
    dry_run: bool = False


def _where_is(dsn: str) -> str:
    """``host:port/database`` of ``dsn``: enough to say where, never who or with what."""
    try:
        parts = urlsplit(dsn)
        _ = parts.port
    except ValueError:
        return "(unreadable dsn)"
    if parts.scheme not in ("postgres", "postgresql"):
        return "(unreadable dsn)"
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or '/'}"


def _password(dsn: str) -> list[str]:
    try:
        password = urlsplit(dsn).password
    except ValueError:
        return []
    return [password] if password else []


@asynccontextmanager
async def _connect(
    dsn: str, params: DatabaseMaintenanceParams
) -> AsyncIterator[asyncpg.Connection]:
    settings = {"application_name": "watchkeeper", "timezone": "UTC",
                "statement_timeout": str(int(params.statement_timeout * 1000))}  # fmt: skip
    try:
        conn = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_S, server_settings=settings)
    except (OSError, asyncpg.PostgresError, ValueError) as exc:
        raise HandlerError(
            f"cannot connect to {_where_is(dsn)}: {redact_text(str(exc), _password(dsn))}"
        ) from None
    try:
        yield conn
    finally:
        await conn.close()


async def _tables(
    conn: asyncpg.Connection, params: DatabaseMaintenanceParams
) -> list[cat.Relation]:
    if not params.tables:
        return await cat.all_tables(conn, params.schemas)
    return [
        await cat.find_table(conn, name, params.schemas, f"params.tables.{i}")
        for i, name in enumerate(params.tables)
    ]


async def _purge_one(
    ctx: RunContext, conn: asyncpg.Connection, rule: PurgeRule, step: Step, *, where: str,
    schemas: list[str], dry: bool,
) -> int:  # fmt: skip
    table = await cat.find_table(conn, rule.table, schemas, where)
    column = await cat.time_column(conn, table, rule.timestamp_column, f"{where}.timestamp_column")
    cutoff = ctx.clock.now() - timedelta(seconds=rule.older_than)
    if dry:
        sql = f"SELECT count(*) FROM {table.quoted} WHERE {column} < $1::timestamptz"  # noqa: S608
        return int(await conn.fetchval(sql, cutoff))
    key = await cat.primary_key(conn, table) or "ctid"
    # Identifiers come from the catalog via format('%I'); values are bind parameters.
    pick = f"SELECT {key} FROM {table.quoted} WHERE {column} < $1::timestamptz LIMIT $2"  # noqa: S608
    sql = f"DELETE FROM {table.quoted} WHERE {key} = ANY(ARRAY({pick}))"  # noqa: S608
    deleted = 0
    while True:
        status = await conn.execute(sql, cutoff, rule.batch_size)
        match = _DELETED.match(status)
        batch = int(match[1]) if match else 0
        deleted += batch
        step.count(rows=batch, batches=1)
        await ctx.progress(deleted, None, f"purged {deleted} rows from {table.quoted}")
        if batch < rule.batch_size:
            return deleted


async def _purge(
    ctx: RunContext, conn: asyncpg.Connection, params: DatabaseMaintenanceParams, dry: bool
) -> dict[str, int]:
    purged: dict[str, int] = {}
    async with ctx.step("purge") as step:
        if not params.purge:
            step.skip("no purge rules")
        for i, rule in enumerate(params.purge):
            purged[rule.table] = await _purge_one(
                ctx, conn, rule, step, where=f"params.purge.{i}", schemas=params.schemas, dry=dry
            )
        await cat.flush_own_stats(conn)
    return purged


async def _vacuum(
    ctx: RunContext, conn: asyncpg.Connection, tables: list[cat.Relation],
    params: DatabaseMaintenanceParams,
) -> None:  # fmt: skip
    verb = "VACUUM (ANALYZE)" if params.vacuum else "ANALYZE" if params.analyze else None
    async with ctx.step("vacuum") as step:
        if verb is None or ctx.dry_run or params.dry_run:
            step.skip("dry run" if verb else "vacuum and analyze are off")
            return
        for n, table in enumerate(tables, 1):
            await conn.execute(f"{verb} {table.quoted}")
            step.count(tables=1)
            await ctx.progress(n, len(tables), f"{verb} {table.quoted}")


async def _reindex(
    ctx: RunContext, conn: asyncpg.Connection, tables: list[cat.Relation],
    params: DatabaseMaintenanceParams, dry: bool,
) -> list[dict[str, Any]]:  # fmt: skip
    chosen: list[dict[str, Any]] = []
    async with ctx.step("reindex") as step:
        if params.reindex_bloat is None:
            step.skip("reindex_bloat not set")
            return chosen
        block = int(await conn.fetchval("SELECT current_setting('block_size')"))
        for index in await cat.btree_indexes(conn, tables):
            bloat = cat.estimated_bloat(index, block)
            if bloat <= params.reindex_bloat or index.bytes < params.reindex_min_bytes:
                continue
            if not dry:
                await conn.execute(f"REINDEX INDEX {index.quoted}")
            step.count(indexes=1)
            chosen.append({"index": index.quoted, "estimated_bloat": round(bloat, 3),
                           "bytes_before": index.bytes})  # fmt: skip
    return chosen


def _totals(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> dict[str, int]:
    def total(rows: list[dict[str, Any]], field: str) -> int:
        return sum(int(row[field]) for row in rows)

    return {
        "bytes_freed": max(0, total(before, "total_bytes") - total(after, "total_bytes")),
        "dead_tuples_before": total(before, "dead_tuples"),
        "dead_tuples_after": total(after, "dead_tuples"),
    }


@handler("database_maintenance", params=DatabaseMaintenanceParams)
async def database_maintenance(ctx: RunContext, params: DatabaseMaintenanceParams) -> Outcome:
    """Purge, vacuum, analyze and reindex; report what each table looked like before and after."""
    dsn = params.dsn or ctx.database_url or os.environ.get(params.dsn_env)
    if not dsn:
        raise HandlerError(
            f"no database: set params.dsn, database.url or the variable {params.dsn_env}"
        )
    dry = ctx.dry_run or params.dry_run
    async with _connect(dsn, params) as conn:
        async with ctx.step("inspect") as step:
            tables = await _tables(conn, params)
            before = await cat.table_stats(conn, tables)
            step.count(tables=len(tables))
        purged = await _purge(ctx, conn, params, dry)
        await _vacuum(ctx, conn, tables, params)
        reindexed = await _reindex(ctx, conn, tables, params, dry)
        async with ctx.step("stats"):
            after = await cat.table_stats(conn, tables)
    totals = _totals(before, after)
    rows = sum(purged.values())
    verb = "would purge" if dry else "purged"
    return Outcome(
        message=f"{len(tables)} tables maintained; {verb} {rows} rows; "
                f"{len(reindexed)} indexes {'to rebuild' if dry else 'rebuilt'}; "
                f"dead tuples {totals['dead_tuples_before']} → {totals['dead_tuples_after']}",
        details={"database": _where_is(dsn), "dry_run": dry, "before": before, "after": after,
                 "purged": purged, "reindexed": reindexed},
        metrics={"items_processed": len(tables), "files_processed": 0, "rows_purged": rows,
                 "indexes_rebuilt": 0 if dry else len(reindexed), "tables": len(tables),
                 **totals},
    )  # fmt: skip
