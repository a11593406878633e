"""Fixtures of the chaos tests: a durable Redis the test owns, and a fault proxy to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from shared.runtime.embedded import EmbeddedRedis
from shared.runtime.redis import Redis, client
from tests.chaos.fleet import Fleet
from tests.support.proxy import FaultProxy


@pytest.fixture
def durable(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A server of this test's own with the AOF fsynced before every reply
    (``appendfsync always``): what it acknowledged survives kill -9."""
    server = EmbeddedRedis(tmp_path / "redis", port=None, appendfsync="always")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def r(durable: EmbeddedRedis) -> AsyncIterator[Redis]:
    """A client on :func:`durable` (chaos tests never share a server)."""
    conn = client(durable.url)
    yield conn
    await conn.aclose()


@pytest.fixture
async def proxy(durable: EmbeddedRedis) -> AsyncIterator[FaultProxy]:
    """A fault-injecting proxy in front of :func:`durable`."""
    found = await FaultProxy(durable.port).start()
    yield found
    await found.stop()


@pytest.fixture
def fleets() -> Iterator[list[Fleet]]:
    """Fleets a test starts; whatever still runs is killed at teardown, even when the test
    was aborted (a timeout) before its own cleanup."""
    started: list[Fleet] = []
    yield started
    for fleet in started:
        fleet.close()
