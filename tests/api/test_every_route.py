"""Every route of the table, on a real server: auth (401/403), unknown names (404),
validation (400 naming the field) and Redis down (503 with Retry-After, never 500).

A route added to the table without a sample here fails the first test: each route must
be exercised."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis

from services.api.app import create_app, serve
from services.api.routes import ROUTES
from services.api.routing import Route
from shared.config.loader import load_text
from shared.contract.keys import Keys
from shared.runtime.embedded import free_port
from shared.runtime.redis import Redis
from tests.api.support import Api, config_text, running_api

TASKS = """
windows:
  nightly: {days: [mon, tue, wed, thu, fri, sat, sun], hours: '01:00-05:00'}
tasks:
  hc: {handler: system_health_check, schedule: {every: 5m}, emergency: true}
"""
SIMULATE = {"config": "tasks: {a: {handler: command, schedule: {cron: '0 * * * *'}}}"}
SAMPLES: dict[str, tuple[str, Any]] = {
    "healthz": ("/healthz", None),
    "readyz": ("/readyz", None),
    "openapi": ("/api/v1/openapi.json", None),
    "prometheus": ("/metrics", None),
    "status": ("/api/v1/status", None),
    "list_tasks": ("/api/v1/tasks", None),
    "create_task": ("/api/v1/tasks", {"name": "new", "definition": {"handler": "command"}}),
    "get_task": ("/api/v1/tasks/{task}", None),
    "update_task": ("/api/v1/tasks/{task}", {"priority": "high"}),
    "delete_task": ("/api/v1/tasks/{task}", None),
    "enable_task": ("/api/v1/tasks/{task}/enable", None),
    "disable_task": ("/api/v1/tasks/{task}/disable", None),
    "pause_task": ("/api/v1/tasks/{task}/pause", {"reason": "x"}),
    "resume_task": ("/api/v1/tasks/{task}/resume", None),
    "task_next": ("/api/v1/tasks/{task}/next", None),
    "task_priority": ("/api/v1/tasks/{task}/priority", None),
    "task_badge": ("/api/v1/tasks/{task}/badge.svg", None),
    "task_decisions": ("/api/v1/tasks/{task}/decisions", None),
    "run_now": ("/api/v1/runs", {"task": "{task}"}),
    "run_all": ("/api/v1/runs/all", {}),
    "emergency": ("/api/v1/runs/emergency", {"task": "{task}", "reason": "disk full"}),
    "list_runs": ("/api/v1/runs", None),
    "get_run": ("/api/v1/runs/{run}", None),
    "cancel_run": ("/api/v1/runs/{run}/cancel", {"reason": "stuck"}),
    "upcoming": ("/api/v1/schedule/upcoming", None),
    "due": ("/api/v1/schedule/due", None),
    "stats": ("/api/v1/schedule/stats", None),
    "simulate_running": ("/api/v1/schedule/simulate", None),
    "simulate_posted": ("/api/v1/schedule/simulate", SIMULATE),
    "list_windows": ("/api/v1/windows", None),
    "list_calendars": ("/api/v1/calendars", None),
    "list_rollbacks": ("/api/v1/rollbacks", None),
    "prune_rollbacks": ("/api/v1/rollbacks/prune", {"max_count": 10}),
    "get_rollback": ("/api/v1/rollbacks/{id}", None),
    "verify_rollback": ("/api/v1/rollbacks/{id}/verify", None),
    "restore_rollback": ("/api/v1/rollbacks/{id}/restore", {"reason": "bad cleanup"}),
    "list_dead": ("/api/v1/dead-letters", None),
    "requeue_dead": ("/api/v1/dead-letters/{id}/requeue", None),
    "events": ("/api/v1/events", None),
    "list_reports": ("/api/v1/reports", None),
    "get_report": ("/api/v1/reports/daily/{date}", None),
    "make_now": ("/api/v1/reports/daily", None),
    "generate_report": ("/api/v1/reports/daily", {"date": "2027-01-15"}),
    "running_runs": ("/api/v1/runs/running", None),
    "trends": ("/api/v1/runs/trends", None),
    "page": ("/", None),
    "asset": ("/static/{name}", None),
    "whoami": ("/api/v1/whoami", None),
    "list_alerts": ("/api/v1/alerts", None),
    "alert_log": ("/api/v1/alerts/log", None),
    "ack_alert": ("/api/v1/alerts/{key}/ack", None),
    "silence_alert": ("/api/v1/alerts/{key}/silence", {"for": "1h"}),
}
NO_REDIS = {"healthz", "openapi", "simulate_posted", "list_calendars", "events", "page", "asset",
            "whoami"}  # fmt: skip
"""Routes that answer without Redis (the feed's reader waits for Redis on its own)."""
KNOWN = {"task": "hc", "run": "hc:1", "id": "1-1", "date": "2027-01-15", "name": "main.js",
         "key": "system.disk"}  # fmt: skip
"""Path values for routes that only need well-formed ones."""
UNKNOWN = {"task": "nope", "run": "nope:1", "id": "1-1", "date": "1999-01-01", "name": "nope.js",
           "key": "nope"}  # fmt: skip
"""Path values naming nothing."""
NAMED = {n for n, (p, _) in SAMPLES.items() if "{" in p} | {"run_now", "emergency"}


def _request(route: Route, values: dict[str, str]) -> tuple[str, Any]:
    path, body = SAMPLES[route.operation_id]
    if isinstance(body, dict):
        body = {k: values["task"] if v == "{task}" else v for k, v in body.items()}
    return path.format(**values), body


def test_every_route_has_a_sample() -> None:
    assert {r.operation_id for r in ROUTES} == set(SAMPLES)


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if r.role is not None], ids=lambda r: r.operation_id
)
async def test_401_without_a_token_403_below_its_role(r: Redis, keys: Keys, route: Route) -> None:
    async with running_api(r, keys, TASKS) as api:
        path, body = _request(route, KNOWN)
        status, reply, _ = await api.call(route.method, path, role=None, json=body)
        assert (status, reply["error"]["code"]) == (401, "unauthorized")
        weaker = {"viewer": None, "operator": "viewer", "admin": "operator"}[route.role]
        if weaker is not None:
            status, reply, _ = await api.call(route.method, path, role=weaker, json=body)
            assert (status, reply["error"]["code"]) == (403, "forbidden")


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if r.operation_id in NAMED], ids=lambda r: r.operation_id
)
async def test_unknown_names_are_json_404s(r: Redis, keys: Keys, route: Route) -> None:
    async with running_api(r, keys, TASKS) as api:
        path, body = _request(route, UNKNOWN)
        status, reply, _ = await api.call(route.method, path, json=body)
        assert (status, reply["error"]["code"]) == (404, "not_found"), reply
        assert reply["error"]["message"]


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if r.body is not None], ids=lambda r: r.operation_id
)
async def test_a_bad_body_field_is_a_400_naming_it(r: Redis, keys: Keys, route: Route) -> None:
    async with running_api(r, keys, TASKS) as api:
        path, body = _request(route, KNOWN)
        status, reply, _ = await api.call(route.method, path, json={**body, "bogus_field": 1})
        assert (status, reply["error"]["code"]) == (400, "invalid_field"), reply
        assert reply["error"]["details"]["field"] == "bogus_field"
        assert "'bogus_field'" in reply["error"]["message"]
        status, reply, _ = await api.call(route.method, path, data="{not json")
        assert (status, reply["error"]["message"]) == (400, "the body is not valid JSON")


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if r.query is not None], ids=lambda r: r.operation_id
)
async def test_a_bad_query_parameter_is_a_400_naming_it(r: Redis, keys: Keys, route: Route) -> None:
    assert route.query is not None
    name, field = next(
        (n, f) for n, f in route.query.model_fields.items() if f.annotation not in (str, str | None)
    )
    bad = "²"  # a digit to str.isdigit(), not to int(); no instant, no status either
    async with running_api(r, keys, TASKS) as api:
        path, _ = _request(route, KNOWN)
        status, reply, _ = await api.call(route.method, f"{path}?{field.alias or name}={bad}")
        assert (status, reply["error"]["code"]) == (400, "invalid_field"), reply
        details = reply["error"]["details"]
        assert (details["field"], details["in"]) == (field.alias or name, "query")


async def test_every_route_is_a_503_with_retry_after_when_redis_is_down(keys: Keys) -> None:
    # No client-side retries: each request fails at once (the API's answer is the same).
    dead = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}", retry=None)
    config = load_text(config_text(keys, TASKS), env={}).config
    port = free_port()
    runner = await serve(create_app(dead, config), "127.0.0.1", port)
    api = Api(f"http://127.0.0.1:{port}", config, None)  # type: ignore[arg-type]
    try:
        for route in ROUTES:
            if route.operation_id in NO_REDIS:
                continue
            path, body = _request(route, KNOWN)
            status, reply, headers = await api.call(route.method, path, json=body)
            assert (status, reply["error"]["code"]) == (503, "redis_unavailable"), (route, reply)
            assert headers["Retry-After"] == "2"
        status, _, _ = await api.call("POST", "/api/v1/schedule/simulate", json=SIMULATE)
        assert status == 200  # a posted config needs no Redis
    finally:
        await runner.cleanup()
        await dead.aclose()
