"""``GET /api/v1/status``: the facts ``watchkeeper status`` shows, from the same reader."""

from __future__ import annotations

from services.reporter.alerting.store import AlertStore
from services.reporter.alerting.transition import Observation
from shared.config.models import Config
from shared.contract.keys import Keys
from shared.contract.readmodel import ExecutorBeat
from shared.runtime.clock import FakeClock
from shared.runtime.health import Health, read_health
from shared.runtime.redis import Redis
from tests.api.support import running_api

TASKS = """
tasks:
  hc: {handler: system_health_check, schedule: {every: 5m}}
  sweep: {handler: command, params: {argv: ["true"]}, schedule: {every: 1h}}
"""


async def test_status_is_the_health_reader_as_json(r: Redis, keys: Keys) -> None:
    clock = FakeClock()
    now = clock.time()
    await r.set(keys.scheduler_leader, "7:scheduler-b", px=30_000)
    beat = ExecutorBeat(id="exec-9", host="h9", pid=9, started_at=now - 5, last_beat=now,
                        inflight=0, max_concurrent=2)  # fmt: skip
    await r.hset(keys.executor("exec-9"), mapping=beat.to_fields())  # type: ignore[arg-type]
    await r.expire(keys.executor("exec-9"), 60)
    await r.zadd(keys.schedule_next, {"hc": now - 1, "sweep": now + 3600})
    obs = Observation(key="system.disk", severity="critical", title="disk full", at=now)
    await AlertStore.of(r, keys, Config().alerts).raise_(obs)
    async with running_api(r, keys, TASKS, clock=clock) as api:
        status, body, _ = await api.call("GET", "/api/v1/status", role="viewer")
    assert status == 200, body
    assert body["scheduler"]["leader"] == "7:scheduler-b"
    assert [e["id"] for e in body["executors"]] == ["exec-9"]
    assert body["tasks"] == {"total": 2, "paused": 0, "due": 1}
    assert body["alerts_active"] == 1
    direct = (await read_health(r, keys, now)).as_dict()
    for shown in (body, direct):
        shown["scheduler"]["lease_ttl_s"] = shown["redis"]["used_memory"] = None  # they move
    assert body == direct
    assert Health.from_dict(body).as_dict() == body  # the CLI reads the answer back whole
