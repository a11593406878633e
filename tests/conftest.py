"""Session-wide fixtures: a private Redis server, per-test namespaces, PostgreSQL.

Tests never share Redis state: each test gets its own namespace on a private server
started for the session (tests that kill Redis start their own server instead).
"""

from __future__ import annotations

import gc
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from shared.contract.keys import Keys
from shared.runtime.embedded import EmbeddedRedis
from shared.runtime.redis import Redis, client
from tests.support.postgres import postgres_dsn


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """A private Redis-compatible server for the whole session (random loopback port)."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), port=None, appendonly=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: EmbeddedRedis) -> str:
    """URL of the session's private server."""
    return redis_server.url


@pytest.fixture
def keys() -> Keys:
    """A namespace no other test uses."""
    return Keys(f"t{uuid.uuid4().hex[:12]}")


@pytest.fixture
async def r(redis_url: str) -> AsyncIterator[Redis]:
    """An asyncio client on the session's server, closed after the test."""
    conn = client(redis_url)
    yield conn
    await conn.aclose()


@pytest.fixture(scope="session")
def pg_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL DSN: DATABASE_URL, a local server, a private initdb cluster, or Docker.

    Fails loudly when none of them works: a missing database is never a silent skip.
    """
    with postgres_dsn(Path(tmp_path_factory.mktemp("pg"))) as dsn:
        yield dsn


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[Redis]:
    """A client on a server of this test's own (FLUSHALL there touches no other test)."""
    async with EmbeddedRedis(tmp_path / "own-redis", port=None, appendonly=False) as server:
        conn = client(server.url)
        yield conn
        await conn.aclose()


def pytest_configure(config: pytest.Config) -> None:
    """Tables are as wide as ``COLUMNS`` says, else the pipe width the CLI tests expect; a
    runner's own ``COLUMNS`` (an xdist worker has ``COLUMNS=80``) must not narrow them."""
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under xdist (``make test``: ``-n 2 --dist loadgroup``) the slow failure-injection
    tests share one worker, one after another: each runs several processes against a
    timing bound, and two of them at once would compete for the same two cores."""
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.xdist_group("slow"))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Freeze what collection built (every imported module, class and function): the
    per-test collection below then scans only what tests allocate, not the ~150,000
    objects of the imports each time (a full pass costs ~0.1 s, ×1,200 tests)."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _collect_garbage_per_test() -> Iterator[None]:
    """Collect after every test, so an unclosed connection or socket is reported (as a
    ResourceWarning, an error here) against the test that leaked it, not a random later one."""
    yield
    gc.collect()
