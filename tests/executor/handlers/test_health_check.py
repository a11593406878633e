"""``system_health_check`` on this machine and a real Redis, and its score formula."""

from __future__ import annotations

import pytest
from aiohttp import web

from services.executor.handlers.health_score import (
    breaches,
    health_score,
    load_as_percent,
    resource_score,
)
from shared.contract.keys import Keys
from shared.runtime.redis import Redis, client
from tests.executor.handlers.support import make_ctx, run_handler


async def test_reports_every_figure_and_redis(r: Redis, keys: Keys) -> None:
    ctx = make_ctx(redis=r, keys=keys)
    outcome = await run_handler("system_health_check", ctx, {"cpu_sample_s": 0.05})
    m = outcome.metrics
    for name in ("health_score", "cpu_percent", "memory_percent", "disk_percent", "swap_percent",
                 "load_1m", "load_per_core", "processes", "open_files", "redis_latency_ms",
                 "redis_used_memory_bytes"):  # fmt: skip
        assert name in m, name
    assert 0 <= m["health_score"] <= 100
    assert m["processes"] > 1
    assert outcome.details["redis"]["reachable"] is True
    assert "disk:/" in outcome.details["usage"]
    assert [s["name"] for s in ctx.record()["steps"]] == ["resources", "redis"]


async def test_per_mount_and_count_thresholds_breach(r: Redis, keys: Keys) -> None:
    params = {"cpu_sample_s": 0.05, "disk_paths": ["/", "/tmp"],
              "disk_thresholds": {"/tmp": 0.001}, "process_threshold": 1}  # fmt: skip
    outcome = await run_handler("system_health_check", make_ctx(redis=r, keys=keys), params)
    assert {"disk:/tmp", "processes"} <= set(outcome.details["breaches"])
    assert outcome.details["thresholds"]["disk:/tmp"] == 0.001
    assert "disk:/tmp" in outcome.message


async def test_unreachable_redis_is_a_breach_and_costs_points(keys: Keys) -> None:
    dead = client("redis://127.0.0.1:1", socket_timeout=1.0)
    try:
        outcome = await run_handler(
            "system_health_check", make_ctx(redis=dead, keys=keys), {"cpu_sample_s": 0.05}
        )
    finally:
        await dead.aclose()
    assert outcome.details["redis"]["reachable"] is False
    assert "redis_unreachable" in outcome.details["breaches"]
    assert outcome.metrics["health_score"] <= 90.0


def test_score_formula() -> None:
    calm = {"cpu": 10.0, "memory": 10.0, "swap": 0.0, "load": 5.0, "disk:/": 10.0}
    limits = {"cpu": 80.0, "memory": 85.0, "swap": 80.0, "load": 50.0, "disk": 90.0}
    assert health_score(calm, limits) == 100.0
    # the worst disk counts, against its own threshold: 95 % of a 90 % limit scores 25
    worst = {**calm, "disk:/data": 95.0, "disk:/logs": 50.0}
    assert resource_score(95.0, 90.0) == 25.0
    assert health_score(worst, limits) == pytest.approx(100 - 0.3 * 75)
    assert health_score(calm, limits, failed_probes=1, redis_breaches=2) == 65.0
    assert health_score({}, limits) == 100.0  # nothing measured: nothing wrong
    assert health_score({**calm, "cpu": 100.0, "memory": 100.0, "disk:/": 100.0}, limits,
                        redis_breaches=5) == 0.0  # fmt: skip


def test_load_per_core_scale_and_breaches() -> None:
    assert load_as_percent(1.5, 1.5) == 50.0
    assert load_as_percent(6.0, 1.5) == 100.0
    usage = {"cpu": 81.0, "load": load_as_percent(2.0, 1.5), "processes": 900.0, "swap": 1.0}
    limits = {"cpu": 80.0, "load": 50.0, "swap": 80.0}
    assert breaches(usage, limits) == ["cpu", "load"]  # processes has no limit here


async def test_service_probes_http_tcp_redis(r: Redis, keys: Keys, redis_url: str) -> None:
    async def ready(_: web.Request) -> web.Response:
        return web.Response(text="gateway: READY")

    app = web.Application()
    app.router.add_get("/health", ready)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    probes = [
        {"name": "gateway", "http": f"http://127.0.0.1:{port}/health", "body_match": "READY"},
        {"name": "gateway-body", "http": f"http://127.0.0.1:{port}/health", "body_match": "LIVE",
         "severity": "warning"},
        {"name": "missing", "http": f"http://127.0.0.1:{port}/nope"},
        {"name": "fix-port", "tcp": f"127.0.0.1:{port}"},
        {"name": "closed", "tcp": "127.0.0.1:1"},
        {"name": "cache", "redis": redis_url, "max_latency_ms": 5000},
    ]  # fmt: skip
    try:
        outcome = await run_handler("system_health_check", make_ctx(redis=r, keys=keys),
                                    {"cpu_sample_s": 0.05, "probes": probes})  # fmt: skip
    finally:
        await runner.cleanup()
    found = {p["name"]: p for p in outcome.details["probes"]}
    assert {n for n, p in found.items() if p["ok"]} == {"gateway", "fix-port", "cache"}
    assert found["missing"]["error"] == "HTTP 404"
    assert "does not match" in found["gateway-body"]["error"]
    assert found["gateway-body"]["severity"] == "warning"
    assert "probe:closed" in outcome.details["breaches"]
    # each failed probe costs 15 points of the score the same sample would get otherwise
    details = outcome.details
    redis_breaches = sum(b.startswith("redis_") for b in details["breaches"])
    expected = health_score(details["usage"], details["thresholds"], failed_probes=3,
                            redis_breaches=redis_breaches)  # fmt: skip
    assert outcome.metrics["health_score"] == expected
