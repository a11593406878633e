"""The PostgreSQL fallback chain really starts a private cluster (no server needed)."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from tests.support.postgres import _private_cluster


async def test_private_initdb_cluster_serves_queries(tmp_path: Path) -> None:
    with _private_cluster(tmp_path) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("select 40 + 2") == 42
        finally:
            await conn.close()
