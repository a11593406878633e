"""Alerts over the API: active list, log, acknowledge and silence (operator), on alerts
raised through the reporter's real store. Auth, 404s and Redis down for every route are
in test_every_route.py; here the behaviour."""

from __future__ import annotations

from services.reporter.alerting.store import AlertStore
from services.reporter.alerting.transition import Observation
from shared.contract.keys import Keys
from shared.runtime.clock import FakeClock
from shared.runtime.redis import Redis
from tests.api.support import Api, running_api

NOW = 1_800_000_000.0


async def _raise(api: Api, r: Redis, keys: Keys, key: str, severity: str, at: float) -> None:
    store = AlertStore.of(r, keys, api.config.alerts)
    await store.raise_(Observation(key=key, severity=severity, title=f"{key} is bad",
                                   message="details", at=at))  # fmt: skip


async def test_active_alerts_most_severe_first(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys, clock=FakeClock(NOW)) as api:
        await _raise(api, r, keys, "system.disk", "warning", NOW - 60)
        await _raise(api, r, keys, "task.broken", "critical", NOW - 30)
        status, body, _ = await api.call("GET", "/api/v1/alerts", role="viewer")
    assert status == 200
    assert [(a["key"], a["severity"], a["state"]) for a in body["items"]] == [
        ("task.broken", "critical", "active"),
        ("system.disk", "warning", "active"),
    ]
    assert body["items"][1]["title"] == "system.disk is bad"


async def test_resolved_alerts_follow_the_active_ones_when_asked(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys, clock=FakeClock(NOW)) as api:
        await _raise(api, r, keys, "system.disk", "warning", NOW - 60)
        await _raise(api, r, keys, "task.broken", "critical", NOW - 30)
        await AlertStore.of(r, keys, api.config.alerts).resolve("task.broken", NOW)
        _, active, _ = await api.call("GET", "/api/v1/alerts", role="viewer")
        _, every, _ = await api.call("GET", "/api/v1/alerts?resolved=true", role="viewer")
    assert [a["key"] for a in active["items"]] == ["system.disk"]
    assert [(a["key"], a["state"]) for a in every["items"]] == [
        ("system.disk", "active"), ("task.broken", "resolved")]  # fmt: skip


async def test_acknowledge_records_who_and_logs_it(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys, clock=FakeClock(NOW)) as api:
        await _raise(api, r, keys, "system.disk", "critical", NOW - 60)
        status, body, _ = await api.call("POST", "/api/v1/alerts/system.disk/ack", role="operator")
        assert status == 200
        assert (body["acked_by"], body["acked_at"]) == ("api:operator", NOW)
        status, log, _ = await api.call("GET", "/api/v1/alerts/log?count=5", role="viewer")
    assert status == 200
    newest = log["items"][0]
    assert (newest["action"], newest["key"], newest["by"]) == ("acknowledged", "system.disk",
                                                               "api:operator")  # fmt: skip


async def test_silence_for_a_duration(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys, clock=FakeClock(NOW)) as api:
        await _raise(api, r, keys, "system.disk", "warning", NOW - 60)
        path = "/api/v1/alerts/system.disk/silence"
        status, body, _ = await api.call("POST", path, role="operator", json={"for": "2h"})
        assert status == 200
        assert (body["silenced_until"], body["silenced_by"]) == (NOW + 7200, "api:operator")
        for bad in ("soon", "0s", "31d"):
            status, reply, _ = await api.call("POST", path, role="operator", json={"for": bad})
            assert (status, reply["error"]["details"]["field"]) == (400, "for"), bad
        status, reply, _ = await api.call("POST", path, role="viewer", json={"for": "1h"})
        assert (status, reply["error"]["code"]) == (403, "forbidden")


async def test_a_resolved_or_unknown_alert_is_a_404(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys, clock=FakeClock(NOW)) as api:
        await _raise(api, r, keys, "system.disk", "warning", NOW - 60)
        await AlertStore.of(r, keys, api.config.alerts).resolve("system.disk", NOW - 10)
        for path, body in (("ack", None), ("silence", {"for": "1h"})):
            status, reply, _ = await api.call(
                "POST", f"/api/v1/alerts/system.disk/{path}", role="operator", json=body
            )
            assert (status, reply["error"]["code"]) == (404, "not_found")
        status, body, _ = await api.call("GET", "/api/v1/alerts", role="viewer")
    assert body["items"] == []
