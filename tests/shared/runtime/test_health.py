"""The health reader on real Redis: counts from the read model, the active alerts from the
reporter's index (an empty index is gone from Redis: none, not unknown), and the JSON
form read back whole."""

from __future__ import annotations

from services.reporter.alerting.store import AlertStore
from services.reporter.alerting.transition import Observation
from shared.config.models import Config
from shared.contract.keys import EXECUTORS_GROUP, Keys
from shared.runtime.health import Health, read_health
from shared.runtime.redis import Redis

NOW = 1_800_000_000.0


async def test_an_empty_namespace_has_no_leader_executor_or_alert(r: Redis, keys: Keys) -> None:
    health = await read_health(r, keys, NOW)
    assert (health.leader, health.executors, health.alerts, health.due) == (None, [], 0, 0)
    assert [q.waiting + q.in_flight for q in health.queues] == [0, 0, 0, 0]
    assert health.warnings()[:2] == ["no scheduler leader: nothing is being scheduled",
                                     "no executor alive: due runs wait in the queues"]  # fmt: skip


async def test_alerts_counted_while_active_and_none_once_resolved(r: Redis, keys: Keys) -> None:
    store = AlertStore.of(r, keys, Config().alerts)
    await store.raise_(Observation(key="system.disk", severity="critical", title="full", at=NOW))
    await store.raise_(Observation(key="probe.db", severity="warning", title="slow", at=NOW))
    assert (await read_health(r, keys, NOW)).alerts == 2
    for key in ("system.disk", "probe.db"):
        await store.resolve(key, NOW + 60)
    assert await r.exists(keys.alerts_active) == 0  # Redis dropped the empty index
    assert (await read_health(r, keys, NOW)).alerts == 0


async def test_the_json_form_reads_back_whole(r: Redis, keys: Keys) -> None:
    await r.set(keys.scheduler_leader, "2:sched", px=5_000)
    await r.zadd(keys.schedule_next, {"a": NOW - 1, "b": NOW + 1})
    await r.xgroup_create(keys.due("critical"), EXECUTORS_GROUP, id="$", mkstream=True)
    await r.xadd(keys.due("critical"), {"n": "1"})
    health = await read_health(r, keys, NOW)
    assert (health.due, health.queues[0].priority, health.queues[0].waiting) == (1, "critical", 1)
    assert Health.from_dict(health.as_dict()) == health
