"""The shared fixtures work: a private Redis answers, PostgreSQL is reachable."""

import asyncpg

from shared.contract.keys import Keys
from shared.runtime.redis import Redis


async def test_private_redis_answers(r: Redis, keys: Keys) -> None:
    await r.set(keys.counter("x"), 41)
    assert await r.incr(keys.counter("x")) == 42


async def test_postgres_reachable(pg_dsn: str) -> None:
    conn = await asyncpg.connect(pg_dsn)
    try:
        assert await conn.fetchval("select 1 + 1") == 2
    finally:
        await conn.close()
