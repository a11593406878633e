"""A run that finishes while Redis is down keeps its result and publishes it once Redis
is back: it does not run a second time, and its result reports the attempt counted.

The test owns its redis-server (AOF on) so it can stop and restart it on the same data."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from services.executor.service import Executor
from shared.contract.keys import Keys
from shared.runtime.embedded import EmbeddedRedis
from shared.runtime.redis import Redis, client
from tests.executor.executor_support import (
    make_config,
    make_due,
    pending_count,
    publish_due,
    results,
    wait_for,
)

PUBLISH_FAILURES = ("run.publish_retrying", "run.publish_given_up", "run.publish_failed")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    owned = EmbeddedRedis(tmp_path / "redis", port=None, appendonly=True)
    owned.start()
    yield owned
    owned.stop()


@pytest.fixture
async def own_r(server: EmbeddedRedis) -> AsyncIterator[Redis]:
    conn = client(server.url)
    yield conn
    await conn.aclose()


async def test_result_finished_during_an_outage_is_published_after_it(
    server: EmbeddedRedis, own_r: Redis, keys: Keys, tmp_path: Path
) -> None:
    marker = tmp_path / "runs.log"
    script = f"echo start >> {marker}; sleep 0.3; echo end >> {marker}"
    due = make_due("command", task="quick", params={"argv": ["sh", "-c", script]})
    executor = Executor(own_r, make_config(keys, tmp_path, visibility_timeout=15.0))
    stop = asyncio.Event()
    with capture_logs() as logs:
        serving = asyncio.create_task(executor.run(stop))
        try:
            await publish_due(own_r, keys, due)
            await wait_for(
                lambda: asyncio.to_thread(_lines, marker, "start"), 10, "the run to start"
            )
            await asyncio.to_thread(server.stop)  # Redis goes away while the run is in flight

            async def publish_failed() -> bool:
                return any(e["event"] in PUBLISH_FAILURES for e in logs)

            await wait_for(publish_failed, 10, "the finished run to fail to publish")
            restarted = EmbeddedRedis(server.data_dir, port=server.port, appendonly=True)
            await asyncio.to_thread(restarted.start)
            server.process = restarted.process  # the fixture stops whichever is running
            # Bounded past the visibility timeout, so that a second run would show here.
            await wait_for(lambda: results(own_r, keys), 30, "a result")
        finally:
            stop.set()
            await serving
    [result] = await results(own_r, keys)
    assert (result.run_id, result.status) == (due.run_id, "succeeded")
    assert _lines(marker, "start") == 1  # the handler ran once
    assert result.attempt == int(await own_r.get(keys.attempts(due.run_id)) or 0) == 1
    assert await pending_count(own_r, keys) == 0
    assert [e["event"] for e in logs if e["event"] in PUBLISH_FAILURES] == ["run.publish_retrying"]


def _lines(path: Path, word: str) -> int:
    return path.read_text().split().count(word) if path.exists() else 0


async def test_a_result_is_given_up_when_its_entry_could_be_reclaimed(
    server: EmbeddedRedis, own_r: Redis, keys: Keys, tmp_path: Path
) -> None:
    due = make_due(params={"seconds": 0.2})
    executor = Executor(own_r, make_config(keys, tmp_path, visibility_timeout=1.0))
    await executor.start()
    await publish_due(own_r, keys, due)
    with capture_logs() as logs:
        await executor.run_once(block_ms=20)
        [run] = executor.inflight.values()
        await asyncio.to_thread(server.stop)  # and it never comes back
        async with asyncio.timeout(10):
            await asyncio.gather(run, return_exceptions=True)
    events = [e["event"] for e in logs if e["event"] in PUBLISH_FAILURES]
    assert events[-2:] == ["run.publish_given_up", "run.publish_failed"]
    assert not executor.inflight  # the slot is free; the entry is left for a reclaimer
