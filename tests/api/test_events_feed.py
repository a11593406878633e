"""The SSE feed on a real server and real Redis: run progress and results arrive live;
a client that stops reading is dropped without holding up the others."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from services.api.routes.events import QUEUE_SIZE, Hub
from services.executor.progress import RedisProgress
from shared.contract.codec import encode
from shared.contract.events import AlertRaised, TaskResult
from shared.contract.keys import Keys
from shared.runtime.clock import FakeClock
from shared.runtime.redis import Redis
from tests.api.support import TOKENS, running_api


def _result(n: int) -> TaskResult:
    return TaskResult(
        run_id=f"hc:{n}",
        task="hc",
        handler="h",
        attempt=1,
        trigger="manual",
        scheduled_for=1.0,
        status="succeeded",
        started_at=1.0,
        finished_at=2.0,
        duration_s=1.0,
        executor="e1",
        message="ok",
    )


async def _events(resp: aiohttp.ClientResponse, count: int) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    event = None
    async for raw in resp.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            found.append((str(event), json.loads(line[6:])))
            if len(found) == count:
                return found
    raise AssertionError("the feed ended early")


async def test_progress_results_and_alerts_arrive_live(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys) as api, aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {TOKENS['viewer']}"}
        async with session.get(api.url + "/api/v1/events", headers=headers) as resp:
            assert resp.headers["Content-Type"] == "text/event-stream"
            assert await resp.content.readline() == b": connected\n"
            progress = RedisProgress(
                r,
                keys.run_progress("hc:1"),
                FakeClock(),
                "e1",
                stream=keys.progress_stream,
                run_id="hc:1",
                task="hc",
            )
            await progress(5, 10, "half way")
            await r.xadd(keys.results, encode(_result(1)))  # type: ignore[arg-type]
            alert = AlertRaised(
                alert_id="a1",
                key="system.disk",
                severity="critical",
                title="Disk",
                message="97%",
                source="executor",
                first_seen=1.0,
                last_seen=1.0,
            )
            await r.xadd(keys.alerts_stream, encode(alert))  # type: ignore[arg-type]
            async with asyncio.timeout(10):
                got = await _events(resp, 3)
    assert got[0] == (
        "run.progress",
        {
            "run_id": "hc:1",
            "task": "hc",
            "executor": "e1",
            "done": 5.0,
            "total": 10.0,
            "percent": 50.0,
            "note": "half way",
            "updated_at": 1_800_000_000.0,
        },
    )
    assert got[1][0] == "run.finished"
    assert (got[1][1]["run_id"], got[1][1]["status"]) == ("hc:1", "succeeded")
    assert (got[2][0], got[2][1]["key"]) == ("alert.raised", "system.disk")


async def test_a_slow_client_is_dropped_and_never_blocks_the_others(r: Redis, keys: Keys) -> None:
    hub = Hub(r, keys)
    slow, fast = hub.subscribe(), hub.subscribe()
    ids = dict.fromkeys(hub.streams, "0-0")
    for n in range(QUEUE_SIZE + 50):
        await r.xadd(keys.results, encode(_result(n)))  # type: ignore[arg-type]
    received = []
    while len(received) < QUEUE_SIZE + 50:
        await hub.read_once(ids, block_ms=10)
        while not fast.queue.empty():
            received.append(fast.queue.get_nowait().data["run_id"])
    assert received == [f"hc:{n}" for n in range(QUEUE_SIZE + 50)]
    assert slow.dropped.is_set() and slow not in hub.clients
    assert fast in hub.clients and not fast.dropped.is_set()


async def _xreads(r: Redis) -> int:
    stats: Any = await r.info("commandstats")
    return int(stats.get("cmdstat_xread", {}).get("calls", 0))


async def test_the_reader_idles_without_clients_and_starts_at_the_tails(
    r: Redis, keys: Keys
) -> None:
    """No client, no XREAD: nothing is decoded for nobody. The next client gets what
    arrives after it connected, never what came while the reader idled."""
    hub = Hub(r, keys)
    reader = asyncio.create_task(hub.run())
    try:
        before = await _xreads(r)
        await r.xadd(keys.results, encode(_result(1)))  # type: ignore[arg-type]
        await asyncio.sleep(0.3)
        assert await _xreads(r) == before and not hub.ready.is_set()
        client = hub.subscribe()
        async with asyncio.timeout(5):
            await hub.ready.wait()
        await r.xadd(keys.results, encode(_result(2)))  # type: ignore[arg-type]
        async with asyncio.timeout(5):
            message = await client.queue.get()
        assert message.data["run_id"] == "hc:2" and client.queue.empty()
        hub.unsubscribe(client)
        await asyncio.sleep(1.2)  # the read in flight (block 1 s) ends; then it idles
        idle = await _xreads(r)
        await asyncio.sleep(0.3)
        assert await _xreads(r) == idle and not hub.ready.is_set()
    finally:
        hub.stopping = True
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
