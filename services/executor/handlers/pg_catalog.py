"""PostgreSQL catalog look-ups for ``database_maintenance``: names in, quoted names out.

Every identifier that reaches SQL text comes from the catalog through the server's own
``format('%I')`` after the user's name was matched as a *value* (a bind parameter), so
no user input is ever spliced into a statement. The index bloat estimate is pure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

import asyncpg

from services.executor.handlers.base import HandlerError

TIME_TYPES: Final = ("timestamp with time zone", "timestamp without time zone", "date")
_PAGE_OVERHEAD: Final = 24 + 16  # page header + btree special space
_TUPLE_OVERHEAD: Final = 8 + 4  # IndexTupleData header + line pointer
_LEAF_FILL: Final = 0.9  # btree default fillfactor


@dataclass(frozen=True, slots=True)
class Relation:
    """A table found in the catalog: its oid and its name quoted by the server."""

    oid: int
    quoted: str


@dataclass(frozen=True, slots=True)
class IndexSize:
    """What the catalog says about one btree index (see :func:`estimated_bloat`)."""

    oid: int
    quoted: str
    bytes: int
    tuples: float
    width: float


_FIND = """
SELECT c.oid, format('%I.%I', n.nspname, c.relname) AS quoted
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'm')
"""
_ALL = """
SELECT c.oid, format('%I.%I', n.nspname, c.relname) AS quoted
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('r', 'm') ORDER BY 2
"""
_COLUMN = """
SELECT format('%I', a.attname) AS quoted, format_type(a.atttypid, a.atttypmod) AS type
FROM pg_attribute a WHERE a.attrelid = $1 AND a.attname = $2 AND a.attnum > 0
AND NOT a.attisdropped
"""
_PRIMARY_KEY = """
SELECT format('%I', a.attname) FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
WHERE i.indrelid = $1 AND i.indisprimary AND i.indnatts = 1
"""
_STATS = """
SELECT c.oid, format('%I.%I', n.nspname, c.relname) AS name,
       pg_relation_size(c.oid) AS table_bytes, pg_indexes_size(c.oid) AS index_bytes,
       pg_total_relation_size(c.oid) AS total_bytes,
       coalesce(s.n_live_tup, 0) AS live_tuples, coalesce(s.n_dead_tup, 0) AS dead_tuples
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE c.oid = ANY($1::oid[]) ORDER BY 2
"""
_INDEXES = """
SELECT ic.oid, format('%I.%I', n.nspname, ic.relname) AS quoted,
       pg_relation_size(ic.oid) AS bytes, greatest(ic.reltuples, 0) AS tuples,
       (SELECT coalesce(sum(s.avg_width), 0) FROM pg_attribute a
        JOIN pg_stats s ON s.schemaname = tn.nspname AND s.tablename = tc.relname
                       AND s.attname = a.attname
        WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)) AS width
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
JOIN pg_class tc ON tc.oid = i.indrelid JOIN pg_namespace tn ON tn.oid = tc.relnamespace
JOIN pg_am am ON am.oid = ic.relam
WHERE i.indrelid = ANY($1::oid[]) AND am.amname = 'btree' AND i.indisvalid ORDER BY 2
"""


async def find_table(
    conn: asyncpg.Connection, name: str, schemas: list[str], where: str
) -> Relation:
    """The table ``name`` (``schema.table``, or looked for in ``schemas``).

    ``where`` names the param in the error when there is no such table.
    """
    schema, _, table = name.rpartition(".")
    for candidate in [schema] if schema else schemas:
        row = await conn.fetchrow(_FIND, candidate, table)
        if row is not None:
            return Relation(row["oid"], row["quoted"])
    raise HandlerError(f"{where}: no table {name!r} in schema(s) {[schema] if schema else schemas}")


async def all_tables(conn: asyncpg.Connection, schemas: list[str]) -> list[Relation]:
    """Every table and materialized view in ``schemas``, by name."""
    rows = await conn.fetch(_ALL, schemas)
    return [Relation(row["oid"], row["quoted"]) for row in rows]


async def time_column(conn: asyncpg.Connection, table: Relation, column: str, where: str) -> str:
    """``column`` of ``table``, quoted; it must exist and hold timestamps or dates."""
    row = await conn.fetchrow(_COLUMN, table.oid, column)
    if row is None:
        raise HandlerError(f"{where}: {table.quoted} has no column {column!r}")
    if row["type"] not in TIME_TYPES:
        raise HandlerError(f"{where}: {table.quoted}.{row['quoted']} is {row['type']}, "
                           f"not a timestamp or date")  # fmt: skip
    return str(row["quoted"])


async def primary_key(conn: asyncpg.Connection, table: Relation) -> str | None:
    """The table's single-column primary key, quoted; None (then batches go by ctid)."""
    value = await conn.fetchval(_PRIMARY_KEY, table.oid)
    return str(value) if value is not None else None


async def table_stats(conn: asyncpg.Connection, tables: list[Relation]) -> list[dict[str, Any]]:
    """Sizes and live/dead tuples per table, from a fresh statistics snapshot."""
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    rows = await conn.fetch(_STATS, [t.oid for t in tables])
    return [{k: v for k, v in dict(row).items() if k != "oid"} for row in rows]


async def flush_own_stats(conn: asyncpg.Connection) -> None:
    """Publish this session's pending table statistics (PostgreSQL 15+; older: no-op).

    The flush happens before the server answers the call, so a read after it sees
    this session's deletes; a VACUUM must not be followed by stale counts arriving late.
    """
    try:
        await conn.execute("SELECT pg_stat_force_next_flush()")
    except asyncpg.UndefinedFunctionError:
        return  # before 15 the collector is asynchronous; counts settle on their own


async def btree_indexes(conn: asyncpg.Connection, tables: list[Relation]) -> list[IndexSize]:
    """Valid btree indexes of ``tables`` with size, tuple count and key width."""
    rows = await conn.fetch(_INDEXES, [t.oid for t in tables])
    return [
        IndexSize(
            row["oid"], row["quoted"], row["bytes"], float(row["tuples"]), float(row["width"])
        )
        for row in rows
    ]


def estimated_bloat(index: IndexSize, block_size: int = 8192) -> float:
    """Fraction of ``index`` that a rebuild would free (0–1), from catalog statistics.

    A freshly built btree holds ``tuples`` entries of ``width`` bytes (8-byte aligned,
    plus tuple header and line pointer) at 90 % fill, plus its metapage; the bloat is
    how much larger the index is than that. It needs fresh ``reltuples`` and ``pg_stats``
    (run after VACUUM ANALYZE) and, being an estimate, is meant for thresholds like 0.3.
    """
    if index.bytes <= block_size:
        return 0.0
    per_tuple = _TUPLE_OVERHEAD + 8 * math.ceil(max(index.width, 1.0) / 8)
    per_page = (block_size - _PAGE_OVERHEAD) * _LEAF_FILL
    expected = (math.ceil(index.tuples * per_tuple / per_page) + 1) * block_size
    return max(0.0, min(1.0, 1.0 - expected / index.bytes))
