"""Tasks through the API on real Redis: listing with filters and pages, create/update/
delete validated against the config, enable/disable, pause/resume through the scheduler,
and a schedule change moving the next fire (a real scheduler in-process)."""

from __future__ import annotations

from services.scheduler.service import Scheduler
from shared.config import taskdefs
from shared.contract.codec import decode
from shared.contract.events import TaskChanged, TaskPaused, TaskResumed
from shared.contract.keys import Keys
from shared.contract.readmodel import ScheduleState
from shared.runtime.clock import FakeClock
from shared.runtime.redis import Redis
from tests.api.support import running_api

T0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC
CONFIG = """
windows:
  nightly: {days: [mon, tue, wed, thu, fri, sat, sun], hours: '01:00-05:00'}
tasks:
  a_health: {handler: system_health_check, schedule: {every: 5m}, tags: [health, desk]}
  b_clean: {handler: data_cleanup, schedule: {cron: '0 2 * * *'}, window: nightly}
  c_off: {handler: data_cleanup, enabled: false, tags: [desk]}
  d_backup: {handler: backup, depends_on: [b_clean]}
"""


async def _control(r: Redis, keys: Keys) -> list[object]:
    return [decode(f) for _, f in await r.xrange(keys.control)]


async def test_list_filters_and_pages(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys, CONFIG) as api:
        status, page, _ = await api.call("GET", "/api/v1/tasks?limit=2&offset=1", role="viewer")
        assert status == 200
        assert ([t["name"] for t in page["items"]], page["total"]) == (["b_clean", "c_off"], 4)
        _, page, _ = await api.call("GET", "/api/v1/tasks?tag=desk")
        assert [t["name"] for t in page["items"]] == ["a_health", "c_off"]
        _, page, _ = await api.call("GET", "/api/v1/tasks?enabled=false")
        assert [t["name"] for t in page["items"]] == ["c_off"]
        _, page, _ = await api.call("GET", "/api/v1/tasks?handler=data_cleanup&enabled=true")
        assert [t["name"] for t in page["items"]] == ["b_clean"]
        status, body, _ = await api.call("GET", "/api/v1/tasks?enabled=maybe")
        assert (status, body["error"]["details"]["field"]) == (400, "enabled")


async def test_list_full_carries_what_get_gives(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys, CONFIG) as api:
        _, page, _ = await api.call("GET", "/api/v1/tasks?full=true&limit=2", role="viewer")
        _, one, _ = await api.call("GET", "/api/v1/tasks/a_health", role="viewer")
        first = page["items"][0]
        assert (first["definition"], first["state"]) == (one["definition"], one["state"])
        assert first["definition"]["handler"] == "system_health_check"
        _, plain, _ = await api.call("GET", "/api/v1/tasks?limit=2", role="viewer")
        assert "definition" not in plain["items"][0] and "state" not in plain["items"][0]


async def test_create_conflict_and_validation_naming_the_field(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys, CONFIG) as api:
        new = {
            "name": "e_audit",
            "definition": {"handler": "security_audit", "schedule": {"cron": "0 3 * * *"}},
        }
        status, body, _ = await api.call("POST", "/api/v1/tasks", json=new)
        assert (status, body["name"]) == (201, "e_audit")
        assert (await taskdefs.load(r, keys, "e_audit")) is not None
        assert TaskChanged(task="e_audit") in await _control(r, keys)
        status, body, _ = await api.call("POST", "/api/v1/tasks", json=new)
        assert (status, body["error"]["code"]) == (409, "conflict")
        for definition, field in [
            ({"handler": "x", "window": "nope"}, "definition.window"),
            ({"handler": "x", "depends_on": ["ghost"]}, "definition.depends_on.0"),
            ({"handler": "x", "schedule": {"cron": "61 * * * *"}}, "definition.schedule.cron"),
            ({"handler": "x", "priority": "urgent"}, "definition.priority"),
            ({"handler": "x", "timeout": "soon"}, "definition.timeout"),
        ]:
            status, body, _ = await api.call(
                "POST", "/api/v1/tasks", json={"name": "bad", "definition": definition}
            )
            assert (status, body["error"]["details"]["field"]) == (400, field), body
        status, body, _ = await api.call(
            "POST", "/api/v1/tasks", json={"name": "a b", "definition": {"handler": "x"}}
        )
        assert (status, body["error"]["details"]["field"]) == (400, "name")
        assert await taskdefs.load(r, keys, "bad") is None


async def test_patch_rejects_a_cycle_and_unknown_fields(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys, CONFIG) as api:
        status, body, _ = await api.call(
            "PATCH", "/api/v1/tasks/b_clean", json={"depends_on": ["d_backup"]}
        )
        assert status == 400
        assert "dependency cycle" in body["error"]["message"]
        status, body, _ = await api.call("PATCH", "/api/v1/tasks/b_clean", json={"colour": "red"})
        assert (status, body["error"]["details"]["field"]) == (400, "colour")


async def test_a_schedule_change_moves_the_next_fire(r: Redis, keys: Keys) -> None:
    clock = FakeClock(T0)
    async with running_api(r, keys, CONFIG, clock=clock) as api:
        scheduler = Scheduler(r, api.config, clock=clock)
        await scheduler.start()
        await scheduler.run_once(block_ms=10)
        assert await r.zscore(keys.schedule_next, "b_clean") == T0 + 18 * 3600  # 02:00 next day
        status, body, _ = await api.call(
            "PATCH", "/api/v1/tasks/b_clean", json={"schedule": {"cron": "30 9 * * *"}}
        )
        assert (status, body["definition"]["schedule"]) == (200, [{"cron": "30 9 * * *"}])
        await scheduler.run_once(block_ms=10)
        assert await r.zscore(keys.schedule_next, "b_clean") == T0 + 5400  # 09:30 today
        _, body, _ = await api.call("GET", "/api/v1/tasks/b_clean")
        assert body["next_fire"] == T0 + 5400


async def test_pause_resume_enable_disable_through_the_scheduler(r: Redis, keys: Keys) -> None:
    clock = FakeClock(T0)
    async with running_api(r, keys, CONFIG, clock=clock) as api:
        scheduler = Scheduler(r, api.config, clock=clock)
        await scheduler.start()
        status, body, _ = await api.call(
            "POST", "/api/v1/tasks/a_health/pause", role="operator", json={"reason": "disk swap"}
        )
        assert (status, body) == (202, {"task": "a_health", "status": "pause requested"})
        assert TaskPaused(task="a_health", reason="disk swap") in await _control(r, keys)
        await scheduler.run_once(block_ms=10)
        state = ScheduleState.from_fields(await r.hgetall(keys.schedule_state("a_health")))
        assert state.paused
        _, listed, _ = await api.call("GET", "/api/v1/tasks?tag=health")
        assert listed["items"][0]["paused"] is True
        await api.call("POST", "/api/v1/tasks/a_health/resume", role="operator")
        assert TaskResumed(task="a_health") in await _control(r, keys)
        await scheduler.run_once(block_ms=10)
        assert not await r.sismember(keys.schedule_paused, "a_health")
        status, body, _ = await api.call("POST", "/api/v1/tasks/a_health/disable", role="operator")
        assert (status, body["status"]) == (200, "disabled")
        task = await taskdefs.load(r, keys, "a_health")
        assert task is not None and task.enabled is False
        await api.call("POST", "/api/v1/tasks/a_health/enable", role="operator")
        task = await taskdefs.load(r, keys, "a_health")
        assert task is not None and task.enabled is True


async def test_delete_refused_while_depended_on(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys, CONFIG) as api:
        status, body, _ = await api.call("DELETE", "/api/v1/tasks/b_clean")
        assert (status, body["error"]["details"]) == (409, {"dependents": ["d_backup"]})
        assert (await api.call("DELETE", "/api/v1/tasks/d_backup"))[0] == 200
        assert TaskChanged(task="d_backup", deleted=True) in await _control(r, keys)
        assert (await api.call("DELETE", "/api/v1/tasks/b_clean"))[0] == 200
        assert set(await taskdefs.load_all(r, keys)) == {"a_health", "c_off"}


async def test_priority_breakdown(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys, CONFIG) as api:
        status, body, _ = await api.call("GET", "/api/v1/tasks/a_health/priority")
    assert (status, body["score"], body["category_multiplier"]) == (200, 55.0, 1.0)
    assert [t["factor"] for t in body["terms"]] == ["impact", "urgency", "effort", "success_rate"]
