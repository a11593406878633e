"""The archive's tables, created and migrated on start under a versioned migrations table.

Each namespace has its own PostgreSQL schema (``wk_<namespace>``), so deployments (and
tests) sharing a database never see each other's rows. :func:`migrate` is idempotent
and safe to run from several replicas at once: it takes a transaction-scoped advisory
lock, applies the versions that ``schema_migrations`` does not list yet, in order, and
records each in the same transaction.
"""

from __future__ import annotations

from typing import Any, Final

MIGRATIONS: Final[tuple[tuple[int, str, str], ...]] = (
    (1, "executions and alerts", """
        CREATE TABLE executions (
            id            bigserial PRIMARY KEY,
            run_id        text NOT NULL,
            attempt       integer NOT NULL,
            task          text NOT NULL,
            handler       text NOT NULL,
            trigger       text NOT NULL,
            status        text NOT NULL,
            scheduled_for timestamptz,
            started_at    timestamptz,
            finished_at   timestamptz NOT NULL,
            duration_s    double precision NOT NULL,
            executor      text NOT NULL,
            message       text NOT NULL DEFAULT '',
            error         jsonb,
            metrics       jsonb NOT NULL DEFAULT '{}',
            details       jsonb NOT NULL DEFAULT '{}',
            rollback_id   text,
            archived_at   timestamptz NOT NULL DEFAULT now(),
            UNIQUE (run_id, attempt)
        );
        CREATE INDEX executions_task_finished ON executions (task, finished_at DESC);
        CREATE INDEX executions_finished ON executions (finished_at DESC);
        CREATE TABLE alerts (
            id          bigserial PRIMARY KEY,
            event       text NOT NULL,
            alert_id    text NOT NULL,
            key         text NOT NULL,
            severity    text NOT NULL,
            title       text NOT NULL,
            message     text NOT NULL,
            source      text NOT NULL,
            labels      jsonb NOT NULL DEFAULT '{}',
            first_seen  timestamptz NOT NULL,
            last_seen   timestamptz NOT NULL,
            count       integer NOT NULL,
            archived_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (alert_id, event, count, last_seen)
        );
        CREATE INDEX alerts_last_seen ON alerts (last_seen DESC);
    """),
    (2, "correlation ids of runs", """
        ALTER TABLE executions ADD COLUMN correlation_id text;
    """),
)  # fmt: skip
"""``(version, name, SQL)`` in order; a released version is never edited, only added to."""


def schema_name(namespace: str) -> str:
    """The PostgreSQL schema of a namespace (``{maintenance}`` → ``wk_maintenance``)."""
    return "wk_" + namespace.strip("{}")


def ident(name: str) -> str:
    """``name`` quoted as an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


async def migrate(conn: Any, schema: str) -> list[int]:
    """Create ``schema`` and apply every pending migration; returns the versions applied
    now (empty when the schema was up to date)."""
    q = ident(schema)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"watchkeeper:{schema}")
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {q}")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {q}.schema_migrations (version integer PRIMARY KEY,"
            " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in await conn.fetch(f"SELECT version FROM {q}.schema_migrations")}
        applied = []
        for version, name, sql in MIGRATIONS:
            if version in done:
                continue
            await conn.execute(f"SET LOCAL search_path TO {q}")
            await conn.execute(sql)
            await conn.execute(
                f"INSERT INTO {q}.schema_migrations (version, name) VALUES ($1, $2)", version, name
            )
            applied.append(version)
        return applied
