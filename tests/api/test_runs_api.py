"""Runs through the API with a real scheduler in-process: the run id answered is the run
the scheduler emits; force bypasses disabled and windows; params follow the task's
overridable_params; history pages newest first with filters."""

from __future__ import annotations

from services.reporter.service import Reporter
from services.scheduler.service import Scheduler
from shared.config.models import Config
from shared.contract.codec import decode
from shared.contract.events import TaskResult, TriggerRun
from shared.contract.keys import Keys
from shared.runtime.clock import FakeClock
from shared.runtime.redis import Redis
from tests.api.support import running_api
from tests.scheduler.sched_support import dues

T0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC: the nightly window (01-05 UTC) is closed
CONFIG = """
windows:
  nightly: {days: [mon, tue, wed, thu, fri, sat, sun], hours: '01:00-05:00'}
tasks:
  hc: {handler: system_health_check, emergency: true, overridable_params: [cpu_threshold]}
  clean: {handler: data_cleanup, window: nightly}
  idle: {handler: data_cleanup, enabled: false}
"""


async def test_run_now_answers_the_run_id_the_scheduler_emits(r: Redis, keys: Keys) -> None:
    clock = FakeClock(T0)
    async with running_api(r, keys, CONFIG, clock=clock) as api:
        scheduler = Scheduler(r, api.config, clock=clock)
        await scheduler.start()
        status, body, _ = await api.call(
            "POST",
            "/api/v1/runs",
            role="operator",
            json={"task": "hc", "params": {"cpu_threshold": 70}},
        )
        assert status == 202
        await scheduler.run_once(block_ms=10)
        [due] = await dues(r, keys)
        assert (due.run_id, due.params["cpu_threshold"]) == (body["run_id"], 70)
        assert due.correlation_id == body["correlation_id"]
        [(_, fields)] = await r.xrange(keys.triggers)
        assert decode(fields).requested_by == "api:operator"  # type: ignore[union-attr]


async def test_force_runs_a_disabled_task_and_one_outside_its_window(r: Redis, keys: Keys) -> None:
    clock = FakeClock(T0)
    async with running_api(r, keys, CONFIG, clock=clock) as api:
        scheduler = Scheduler(r, api.config, clock=clock)
        await scheduler.start()
        for task in ("clean", "idle"):
            await api.call("POST", "/api/v1/runs", json={"task": task})
        await scheduler.run_once(block_ms=10)
        assert await dues(r, keys) == []  # refused: outside the window, disabled
        reasons = sorted(f[b"reason"].decode() for _, f in await r.xrange(keys.dead))
        assert reasons[0] == "outside window 'nightly'; it opens next at 2027-01-16T01:00:00+00:00"
        assert reasons[1] == "task is disabled"
        forced = [
            (await api.call("POST", "/api/v1/runs", json={"task": t, "force": True}))[1]
            for t in ("clean", "idle")
        ]
        await scheduler.run_once(block_ms=10)
        assert sorted(d.run_id for d in await dues(r, keys)) == sorted(b["run_id"] for b in forced)


async def test_dry_run_sends_nothing_and_says_what_would_happen(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys, CONFIG, clock=FakeClock(T0)) as api:
        status, body, _ = await api.call(
            "POST", "/api/v1/runs", json={"task": "clean", "dry_run": True}
        )
        assert (status, body["outcome"]) == (200, "would be refused")
        assert body["reason"].startswith("outside window 'nightly'")
        _, body, _ = await api.call(
            "POST", "/api/v1/runs", json={"task": "clean", "dry_run": True, "force": True}
        )
        assert body["outcome"] == "would run"
    assert await r.xlen(keys.triggers) == 0


async def test_params_a_task_does_not_declare_are_a_400_naming_them(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys, CONFIG) as api:
        status, body, _ = await api.call(
            "POST", "/api/v1/runs", json={"task": "hc", "params": {"disk_threshold": 1}}
        )
        assert (status, body["error"]["details"]["field"]) == (400, "params")
        assert "disk_threshold may not be set by a trigger" in body["error"]["message"]
    assert await r.xlen(keys.triggers) == 0


async def test_emergency_and_run_all(r: Redis, keys: Keys) -> None:
    clock = FakeClock(T0)
    async with running_api(r, keys, CONFIG, clock=clock) as api:
        status, body, _ = await api.call(
            "POST", "/api/v1/runs/emergency", json={"task": "clean", "reason": "disk 97%"}
        )
        assert (status, body["error"]["code"]) == (409, "conflict")
        status, body, _ = await api.call("POST", "/api/v1/runs/emergency", json={"task": "hc"})
        assert (status, body["error"]["details"]["field"]) == (400, "reason")
        status, body, _ = await api.call(
            "POST", "/api/v1/runs/emergency", json={"task": "hc", "reason": "disk 97%"}
        )
        assert (status, body["run_id"][:4]) == (202, "hc:e")
        scheduler = Scheduler(r, api.config, clock=clock)
        await scheduler.start()
        await scheduler.run_once(block_ms=10)
        [due] = await dues(r, keys, "critical")
        assert (due.run_id, due.reason) == (body["run_id"], "disk 97%")
        status, body, _ = await api.call("POST", "/api/v1/runs/all", json={"force": True})
        assert [x["task"] for x in body["requested"]] == ["clean", "hc"]  # enabled only
        events = [decode(f) for _, f in await r.xrange(keys.triggers)]
        assert [e.force for e in events if isinstance(e, TriggerRun)] == [True, True]


def _result(run: int, task: str, status: str) -> TaskResult:
    return TaskResult(
        run_id=f"{task}:{run}",
        task=task,
        handler="h",
        attempt=1,
        trigger="schedule",
        scheduled_for=float(run),
        status=status,
        started_at=float(run),
        finished_at=float(run) + 1,
        duration_s=1.0,
        executor="e1",
    )


async def test_history_pages_newest_first_with_filters(r: Redis, keys: Keys) -> None:
    reporter = Reporter(r, Config(namespace=keys.ns))
    for n in range(7):
        await reporter.record(
            _result(n, "hc" if n % 2 else "clean", "failed" if n == 3 else "succeeded")
        )
    async with running_api(r, keys, CONFIG) as api:
        _, page, _ = await api.call("GET", "/api/v1/runs?limit=3", role="viewer")
        assert [i["run_id"] for i in page["items"]] == ["clean:6", "hc:5", "clean:4"]
        _, page, _ = await api.call("GET", f"/api/v1/runs?limit=3&before={page['next']}")
        assert [i["run_id"] for i in page["items"]] == ["hc:3", "clean:2", "hc:1"]
        _, page, _ = await api.call("GET", f"/api/v1/runs?limit=3&before={page['next']}")
        assert ([i["run_id"] for i in page["items"]], page["next"]) == (["clean:0"], None)
        _, page, _ = await api.call("GET", "/api/v1/runs?task=hc&status=failed")
        assert [i["run_id"] for i in page["items"]] == ["hc:3"]
        status, body, _ = await api.call("GET", "/api/v1/runs?status=exploded")
        assert (status, body["error"]["details"]["field"]) == (400, "status")
        # Cursors at the very bottom of the id space: an empty page, not a Redis error
        # (schemathesis found "before=0-0" answering 500).
        assert (await api.call("GET", "/api/v1/runs?before=0-0"))[1] == {"items": [], "next": None}
        status, body, _ = await api.call("GET", "/api/v1/runs?before=99999999999999999999-0")
        assert (status, body["error"]["details"]["field"]) == (400, "before")
        _, one, _ = await api.call("GET", "/api/v1/runs/hc:3")
        assert (one["status"], one["duration_s"]) == ("failed", 1.0)
