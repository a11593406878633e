"""What backups read and restores write besides files: Redis keys and PostgreSQL tables.

Redis keys travel as DUMP payloads with their remaining TTL and come back with RESTORE
(``REPLACE`` only when asked). Tables travel in COPY binary format through asyncpg's
``copy_from_table``/``copy_to_table``, which quote the identifiers themselves; the one
statement written here (``TRUNCATE``) takes only names that passed :data:`TableName`
and are quoted by :func:`quote_ident`. The DSN comes from an environment variable named
in the params and is never logged.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final

import asyncpg
from pydantic import AfterValidator

from services.executor.handlers.base import HandlerError
from shared.runtime.redis import Redis

_IDENT: Final = r"[A-Za-z_][A-Za-z0-9_$]{0,62}"
_TABLE_RE: Final = re.compile(rf"^(?:({_IDENT})\.)?({_IDENT})$")
SCAN_COUNT: Final = 500


def _check_table(value: str) -> str:
    if not _TABLE_RE.match(value):
        raise ValueError(f"{value!r} is not a table name ([schema.]table, letters/digits/_)")
    return value


TableName = Annotated[str, AfterValidator(_check_table)]
"""``table`` or ``schema.table``, plain identifiers only."""


def split_table(name: str) -> tuple[str, str]:
    """``schema.table`` → (schema, table); a bare table is in ``public``."""
    match = _TABLE_RE.match(name)
    if not match:
        raise HandlerError(f"{name!r} is not a table name")
    return match.group(1) or "public", match.group(2)


def quote_ident(name: str) -> str:
    """A PostgreSQL identifier, double-quoted (embedded quotes doubled)."""
    if "\x00" in name:
        raise HandlerError("identifier contains a NUL byte")
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True, slots=True)
class RedisItem:
    """One key as a backup holds it."""

    key: bytes
    payload: bytes
    ttl_ms: int  # -1: no expiry


async def dump_keys(r: Redis, patterns: Iterable[str]) -> list[RedisItem]:
    """DUMP every key matching any pattern (SCAN, never KEYS); keys gone meanwhile are skipped."""
    seen: set[bytes] = set()
    for pattern in patterns:
        async for key in r.scan_iter(match=pattern, count=SCAN_COUNT):
            seen.add(key)
    items: list[RedisItem] = []
    for key in sorted(seen):
        async with r.pipeline(transaction=False) as pipe:
            pipe.dump(key)
            pipe.pttl(key)
            payload, ttl = await pipe.execute()
        if payload is not None:
            items.append(RedisItem(key, payload, int(ttl) if int(ttl) > 0 else -1))
    return items


async def existing(r: Redis, keys: Iterable[bytes]) -> list[bytes]:
    """Which of ``keys`` exist now."""
    wanted = list(keys)
    async with r.pipeline(transaction=False) as pipe:
        for key in wanted:
            pipe.exists(key)
        found = await pipe.execute()
    return [k for k, n in zip(wanted, found, strict=True) if n]


async def restore_keys(r: Redis, items: Iterable[RedisItem], replace: bool) -> int:
    """RESTORE every item with its TTL; returns how many keys were written."""
    count = 0
    for item in items:
        await r.restore(item.key, max(item.ttl_ms, 0), item.payload, replace=replace)
        count += 1
    return count


def dsn_from_env(name: str) -> str:
    """The DSN in environment variable ``name`` (its value never goes into a message)."""
    dsn = os.environ.get(name)
    if not dsn:
        raise HandlerError(f"PostgreSQL DSN variable {name!r} is not set")
    return dsn


async def connect(dsn_env: str) -> Any:
    """An asyncpg connection to the DSN in ``dsn_env``; failures hide the DSN."""
    try:
        return await asyncpg.connect(dsn_from_env(dsn_env))
    except (OSError, asyncpg.PostgresError) as exc:
        raise HandlerError(
            f"cannot connect to PostgreSQL ({dsn_env}): {type(exc).__name__}"
        ) from None


def _rows(status: str) -> int:
    parts = status.split()
    return int(parts[-1]) if parts and parts[-1].isdigit() else 0


async def copy_out(conn: Any, name: str, dest: Path) -> int:
    """COPY table ``name`` (binary) into ``dest``; returns the row count."""
    schema, table = split_table(name)
    status = await conn.copy_from_table(table, schema_name=schema, output=str(dest),
                                        format="binary")  # fmt: skip
    return _rows(status)


async def missing_tables(conn: Any, names: Iterable[str]) -> list[str]:
    """Which of ``schema.table`` names do not exist (``to_regclass`` with a parameter)."""
    gone = []
    for name in names:
        schema, table = split_table(name)
        qualified = f"{quote_ident(schema)}.{quote_ident(table)}"  # a parameter, not SQL
        if await conn.fetchval("SELECT to_regclass($1)", qualified) is None:
            gone.append(name)
    return gone


async def copy_in(conn: Any, name: str, src: Path, truncate: bool) -> int:
    """Load ``src`` (COPY binary) into table ``name``, emptied first if ``truncate``."""
    schema, table = split_table(name)
    if truncate:
        await conn.execute(f"TRUNCATE {quote_ident(schema)}.{quote_ident(table)}")
    status = await conn.copy_to_table(table, schema_name=schema, source=str(src),
                                      format="binary")  # fmt: skip
    return _rows(status)
