"""The archive's connection and queries: write results and alerts, read history, prune.

Writes are idempotent: ``INSERT … ON CONFLICT DO NOTHING`` on ``UNIQUE (run_id,
attempt)`` (executions) and ``UNIQUE (alert_id, event, count, last_seen)`` (alerts), so
a redelivered entry adds nothing. PostgreSQL being unreachable is
:class:`ArchiveUnavailable` (the caller keeps its entries pending and retries), not a
failure of the entries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import asyncpg

from services.reporter.archive.schema import ident, migrate, schema_name
from shared.contract.events import AlertRaised, AlertResolved, TaskResult
from shared.runtime.logging import get_logger, redact_text

log = get_logger("watchkeeper.archive")
CONNECT_TIMEOUT_S: Final = 5.0
COMMAND_TIMEOUT_S: Final = 60.0
UNAVAILABLE: Final = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, crash recovery
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, disk full
    # The schema vanished or became unwritable: reconnecting migrates it again, and the
    # entries must wait, not be dead-lettered as if they were bad.
    asyncpg.exceptions.UndefinedTableError,
    asyncpg.exceptions.InvalidSchemaNameError,
    asyncpg.exceptions.InsufficientPrivilegeError,
    asyncpg.exceptions.ReadOnlySQLTransactionError,
)
"""Errors that say PostgreSQL cannot be used right now (rather than that a row is bad)."""

EXECUTION_COLUMNS: Final = (
    "run_id", "attempt", "task", "handler", "trigger", "status", "scheduled_for",
    "started_at", "finished_at", "duration_s", "executor", "message", "error", "metrics",
    "details", "rollback_id", "correlation_id",
)  # fmt: skip
ALERT_COLUMNS: Final = (
    "event", "alert_id", "key", "severity", "title", "message", "source", "labels",
    "first_seen", "last_seen", "count",
)  # fmt: skip
HISTORY_FIELDS: Final = (
    "run_id", "task", "attempt", "status", "trigger", "handler", "started_at",
    "finished_at", "duration_s", "executor", "message", "error",
)  # fmt: skip
"""The fields of one history row (the archive's and Redis's history agree on them); each
row also carries ``steps``, what the run did step by step (from its details)."""


class ArchiveUnavailable(Exception):
    """PostgreSQL cannot be reached or used now; try again later."""


def _ts(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _text(value: str) -> str:
    return value.replace("\x00", "")  # PostgreSQL text cannot hold NUL


def _json(value: Any) -> str | None:
    if value is None:
        return None
    # jsonb refuses \u0000 too; anything JSON cannot say (bytes, …) is kept as its text
    return json.dumps(value, default=str).replace("\\u0000", "")


def execution_row(r: TaskResult) -> tuple[Any, ...]:
    """One ``executions`` row, in :data:`EXECUTION_COLUMNS` order."""
    return (
        _text(r.run_id), r.attempt, _text(r.task), _text(r.handler), r.trigger, r.status,
        _ts(r.scheduled_for), _ts(r.started_at), _ts(r.finished_at), r.duration_s,
        _text(r.executor), _text(r.message), _json(r.error), _json(r.metrics),
        _json(r.details), r.rollback_id, r.correlation_id,
    )  # fmt: skip


def alert_row(a: AlertRaised | AlertResolved) -> tuple[Any, ...]:
    """One ``alerts`` row, in :data:`ALERT_COLUMNS` order."""
    event = "raised" if isinstance(a, AlertRaised) else "resolved"
    return (
        event, _text(a.alert_id), _text(a.key), a.severity, _text(a.title), _text(a.message),
        _text(a.source), _json(a.labels), _ts(a.first_seen), _ts(a.last_seen), a.count,
    )  # fmt: skip


def _insert(schema: str, table: str, columns: Sequence[str], conflict: str) -> str:
    marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    return (
        f"INSERT INTO {ident(schema)}.{table} ({', '.join(columns)}) VALUES ({marks}) "
        f"ON CONFLICT ({conflict}) DO NOTHING"
    )


def history_row(row: Any) -> dict[str, Any]:
    """An ``executions`` row as a history entry (epoch seconds, error as a map)."""
    out = {name: row[name] for name in HISTORY_FIELDS}
    for name in ("started_at", "finished_at"):
        out[name] = out[name].timestamp() if out[name] is not None else None
    out["error"] = json.loads(out["error"]) if out["error"] else None
    steps = row.get("steps") if hasattr(row, "get") else None
    out["steps"] = json.loads(steps) if isinstance(steps, str) else []
    return out


@dataclass
class ArchiveStore:
    """One namespace's archive in the PostgreSQL at ``url``; connects (and migrates)
    lazily, and reconnects after an outage."""

    url: str
    namespace: str
    schema: str = field(init=False)
    _conn: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.schema = schema_name(self.namespace)

    async def connection(self) -> Any:
        """The open connection, connecting and migrating first if needed."""
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        try:
            conn = await asyncpg.connect(self.url, timeout=CONNECT_TIMEOUT_S,
                                         command_timeout=COMMAND_TIMEOUT_S)  # fmt: skip
        except (*UNAVAILABLE, asyncpg.PostgresError) as exc:
            raise ArchiveUnavailable(f"{redact_text(self.url)}: {exc}") from exc
        try:
            applied = await migrate(conn, self.schema)
        except (*UNAVAILABLE, asyncpg.PostgresError) as exc:
            conn.terminate()  # an unusable archive must not cost the entries: they wait
            raise ArchiveUnavailable(f"migrating {self.schema}: {exc}") from exc
        if applied:
            log.info("archive.migrated", schema=self.schema, versions=applied)
        self._conn = conn
        return conn

    async def close(self) -> None:
        """Close the connection (if any)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    async def write(
        self, results: Sequence[TaskResult], alerts: Sequence[AlertRaised | AlertResolved] = ()
    ) -> None:
        """Insert ``results`` and ``alerts`` in one transaction, skipping rows already there."""
        try:
            conn = await self.connection()
            async with conn.transaction():
                if results:
                    sql = _insert(self.schema, "executions", EXECUTION_COLUMNS, "run_id, attempt")
                    await conn.executemany(sql, [execution_row(r) for r in results])
                if alerts:
                    sql = _insert(self.schema, "alerts", ALERT_COLUMNS,
                                  "alert_id, event, count, last_seen")  # fmt: skip
                    await conn.executemany(sql, [alert_row(a) for a in alerts])
        except UNAVAILABLE as exc:
            await self.close()
            raise ArchiveUnavailable(str(exc)) from exc

    async def history(
        self, *, since: float, task: str | None = None, status: str | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Results finished at or after ``since``, newest first."""
        where, args = ["finished_at >= $1"], list[Any]([_ts(since)])
        for column, value in (("task", task), ("status", status)):
            if value is not None:
                args.append(value)
                where.append(f"{column} = ${len(args)}")
        args.append(limit)
        sql = (f"SELECT {', '.join(HISTORY_FIELDS)}, details -> 'steps' AS steps "
               f"FROM {ident(self.schema)}.executions "
               f"WHERE {' AND '.join(where)} ORDER BY finished_at DESC, id DESC "
               f"LIMIT ${len(args)}")  # fmt: skip
        rows = await self._fetch(sql, *args)
        return [history_row(row) for row in rows]

    async def count(self, table: str) -> int:
        """Rows in ``table`` (``executions`` or ``alerts``)."""
        rows = await self._fetch(f"SELECT count(*) AS n FROM {ident(self.schema)}.{ident(table)}")
        return int(rows[0]["n"])

    async def prune(self, before: float, *, dry_run: bool = False) -> dict[str, int]:
        """Delete (or, with ``dry_run``, count) executions finished and alerts last seen
        before ``before``."""
        out = {}
        for table, column in (("executions", "finished_at"), ("alerts", "last_seen")):
            verb = "SELECT count(*) AS n" if dry_run else "WITH gone AS (DELETE"
            tail = "" if dry_run else " RETURNING 1) SELECT count(*) AS n FROM gone"
            sql = f"{verb} FROM {ident(self.schema)}.{table} WHERE {column} < $1{tail}"
            out[table] = int((await self._fetch(sql, _ts(before)))[0]["n"])
        return out

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        try:
            conn = await self.connection()
            return list(await conn.fetch(sql, *args))
        except UNAVAILABLE as exc:
            await self.close()
            raise ArchiveUnavailable(str(exc)) from exc
