"""``GET /api/v1/runs/{run_id}`` on a real aiohttp server: results, progress, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from services.api.app import create_app, serve
from services.executor.progress import RedisProgress
from services.reporter.service import Reporter
from shared.config import taskdefs
from shared.config.loader import load_text
from shared.config.models import Config
from shared.contract.events import TaskResult
from shared.contract.keys import Keys
from shared.runtime.clock import FakeClock
from shared.runtime.embedded import free_port
from shared.runtime.redis import Redis, client


@pytest.fixture
async def api(r: Redis, keys: Keys) -> AsyncIterator[str]:
    port = free_port()
    runner = await serve(create_app(r, Config(namespace=keys.ns)), "127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def _get(url: str) -> tuple[int, dict[str, object], dict[str, str]]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, await resp.json(), dict(resp.headers)


async def test_result_of_a_finished_run(api: str, r: Redis, keys: Keys) -> None:
    result = TaskResult(
        run_id="hc:1", task="hc", handler="system_health_check", attempt=1, trigger="manual",
        scheduled_for=1.0, status="failed", started_at=1.0, finished_at=3.5, duration_s=2.5,
        executor="e1", message="disk 97%", error={"type": "HandlerError", "message": "disk 97%"},
    )  # fmt: skip
    await Reporter(r, Config(namespace=keys.ns)).record(result)
    status, body, headers = await _get(f"{api}/api/v1/runs/hc:1")
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert body["status"] == "failed"
    assert body["error"] == {"type": "HandlerError", "message": "disk 97%"}
    assert body["duration_s"] == 2.5


async def test_progress_of_a_running_run(api: str, r: Redis, keys: Keys) -> None:
    sink = RedisProgress(r, keys.run_progress("backup:7"), FakeClock(), "exec-1")
    await sink(30, 120, "copying parquet files")
    status, body, _ = await _get(f"{api}/api/v1/runs/backup:7")
    assert status == 200
    assert body["status"] == "running"
    assert body["progress"] == {
        "done": 30.0, "total": 120.0, "percent": 25.0, "note": "copying parquet files",
        "updated_at": 1_800_000_000.0,
    }  # fmt: skip


async def test_unknown_run_is_a_json_404(api: str) -> None:
    status, body, _ = await _get(f"{api}/api/v1/runs/nope:1")
    assert status == 404
    assert body == {
        "error": {
            "code": "not_found",
            "message": "no result for run 'nope:1' (unknown, not started, or expired)",
            "details": {},
        }
    }


async def test_probes(api: str) -> None:
    assert (await _get(f"{api}/healthz"))[:2] == (200, {"status": "ok"})
    # Nothing is deployed on this namespace: not ready (tests/api/test_readiness.py).
    status, body, _ = await _get(f"{api}/readyz")
    assert (status, body["status"]) == (503, "not ready")


async def test_redis_down_is_503_with_retry_after(keys: Keys) -> None:
    dead = client(f"redis://127.0.0.1:{free_port()}", socket_timeout=0.5)
    port = free_port()
    runner = await serve(create_app(dead, Config(namespace=keys.ns)), "127.0.0.1", port)
    try:
        for path in ("/readyz", "/api/v1/runs/x:1"):
            status, body, headers = await _get(f"http://127.0.0.1:{port}{path}")
            assert status == 503
            assert headers["Retry-After"] == "2"
            assert "Redis is unavailable" in str(body)
        assert (await _get(f"http://127.0.0.1:{port}/healthz"))[0] == 200
    finally:
        await runner.cleanup()
        await dead.aclose()


async def test_unknown_route_is_json(api: str) -> None:
    status, body, _ = await _get(f"{api}/api/v1/nothing-here")
    assert status == 404
    assert body["error"]["code"] == "not_found"  # type: ignore[index]


async def test_next_fire_times_of_a_task(r: Redis, keys: Keys) -> None:
    config = load_text(
        f"namespace: {keys.ns}\ntimezone: America/New_York\n"
        "calendars:\n  nyse: {timezone: America/New_York, sessions: {mon-fri: '09:30-16:00'},"
        " holidays: [2026-11-26]}\n"
        "tasks:\n  hc:\n    handler: system_health_check\n    schedule:\n"
        "      - {every: 5m, during: nyse}\n      - {every: 1h, outside: nyse}\n",
        env={},
    ).config
    await taskdefs.apply(r, keys, config)
    port = free_port()
    runner = await serve(create_app(r, config), "127.0.0.1", port)
    base = f"http://127.0.0.1:{port}/api/v1/tasks"
    try:
        status, body, _ = await _get(f"{base}/hc/next?count=4&after=2026-11-25T13:00:00%2B00:00")
        assert status == 200
        fires = body["fires"]
        assert isinstance(fires, list)
        assert [f["local"] for f in fires] == [
            "2026-11-25T09:00:00-05:00", "2026-11-25T09:30:00-05:00",
            "2026-11-25T09:35:00-05:00", "2026-11-25T09:40:00-05:00",
        ]  # fmt: skip
        status, body, _ = await _get(f"{base}/hc/next?count=2&after=2026-11-26T14:00:00Z")
        assert [f["utc"] for f in body["fires"]] == [  # type: ignore[index]
            "2026-11-26T15:00:00+00:00", "2026-11-26T16:00:00+00:00",
        ]  # holiday: hourly only  # fmt: skip
        assert (await _get(f"{base}/nope/next"))[0] == 404
        status, body, _ = await _get(f"{base}/hc/next?count=0")
        assert status == 400
        assert "'count' must be a whole number from 1 to 500" in str(body)
        status, body, _ = await _get(f"{base}/hc/next?after=yesterday")
        assert status == 400
        assert "not an ISO 8601 instant" in str(body)
    finally:
        await runner.cleanup()
