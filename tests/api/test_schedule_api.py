"""Schedule, windows, calendars and badges through the API (fake clock, real Redis)."""

from __future__ import annotations

import time

from services.reporter.service import Reporter
from shared.config.models import Config
from shared.contract.events import TaskResult
from shared.contract.keys import Keys
from shared.runtime.clock import FakeClock
from shared.runtime.redis import Redis
from tests.api.support import running_api

T0 = 1_800_000_000.0  # Friday 2027-01-15 08:00 UTC = 03:00 New York
CONFIG = """
timezone: America/New_York
calendars:
  nyse: {timezone: America/New_York, sessions: {mon-fri: '09:30-16:00'}, holidays: [2027-01-18]}
windows:
  nightly: {days: [mon, tue, wed, thu, fri, sat, sun], hours: '01:00-05:00', max_concurrent: 1}
tasks:
  hc: {handler: system_health_check, schedule: {every: 30m, during: nyse}}
  clean: {handler: data_cleanup, schedule: {cron: '0 2 * * *'}, window: nightly}
  vacuum: {handler: database_maintenance, schedule: {cron: '0 2 * * *'}, window: nightly}
"""


async def test_upcoming_across_tasks(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys, CONFIG, clock=FakeClock(T0)) as api:
        status, body, _ = await api.call("GET", "/api/v1/schedule/upcoming?hours=8")
        assert status == 200
        firsts = [(f["task"], f["local"][11:16]) for f in body["fires"]][:3]
        assert firsts == [("hc", "09:30"), ("hc", "10:00"), ("hc", "10:30")]
        assert body["to"] == "2027-01-15T16:00:00+00:00"
        status, body, _ = await api.call("GET", "/api/v1/schedule/upcoming?hours=0")
        assert (status, body["error"]["details"]["field"]) == (400, "hours")


async def test_due_stats_and_decisions(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys, CONFIG, clock=FakeClock(T0)) as api:
        await r.zadd(keys.schedule_next, {"clean": T0 - 30, "hc": T0 + 60})
        await r.zadd(keys.schedule_retries, {"hc|hc:1|2|schedule|1.0": T0 + 5})
        _, due, _ = await api.call("GET", "/api/v1/schedule/due")
        assert due["overdue"] == [{"task": "clean", "next_fire": T0 - 30, "late_s": 30.0}]
        assert due["retries"] == [
            {"task": "hc", "run_id": "hc:1", "attempt": "2", "due_at": T0 + 5}
        ]
        reporter = Reporter(r, Config(namespace=keys.ns))
        for n, status in enumerate(("succeeded", "failed", "succeeded")):
            await reporter.record(
                TaskResult(
                    run_id=f"hc:{n}",
                    task="hc",
                    handler="h",
                    attempt=1,
                    trigger="schedule",
                    scheduled_for=T0,
                    status=status,
                    started_at=T0,
                    finished_at=T0 + 1,
                    duration_s=1.0,
                    executor="e",
                )
            )
        _, stats, _ = await api.call("GET", "/api/v1/schedule/stats")
        assert (stats["tasks"], stats["runs"], stats["success_rate"]) == (3, 3, 0.6667)
        assert stats["by_frequency"] == {"sub_hourly": 1, "daily": 2}
        assert stats["by_last_status"] == {"succeeded": 1, "never_run": 2}
        status, body, _ = await api.call("GET", "/api/v1/tasks/hc/decisions?count=5")
        assert (status, body["decisions"]) == (200, [])


async def test_simulation_of_the_deployed_and_of_a_posted_config(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys, CONFIG, clock=FakeClock(T0)) as api:
        status, sim, _ = await api.call(
            "GET", "/api/v1/schedule/simulate?from=2027-01-16T00:00:00Z&to=2027-01-17T00:00:00Z"
        )
        assert status == 200
        assert [(f["task"], f["local"][11:16]) for f in sim["fires"]] == [
            ("clean", "02:00"),
            ("vacuum", "02:00"),
        ]  # Saturday: no session
        assert [c["kind"] for c in sim["conflicts"]] == ["window_capacity"]
        assert sim["fires"][1]["conflicts"] == [1]
        posted = {
            "config": "tasks: {a: {handler: h, schedule: {cron: '0 * * * *'}}}",
            "from": "2027-01-16T00:00:00Z",
            "to": "2027-01-16T03:00:00Z",
        }
        status, sim, _ = await api.call(
            "POST", "/api/v1/schedule/simulate", json=posted, role="viewer"
        )
        assert (status, len(sim["fires"])) == (200, 4)
        bad = {"config": "tasks: {a: {handler: h, schedule: {cron: '99 * * * *'}}}"}
        status, body, _ = await api.call("POST", "/api/v1/schedule/simulate", json=bad)
        assert (status, body["error"]["details"]["field"]) == (400, "config.tasks.a.schedule.cron")
        status, body, _ = await api.call(
            "GET", "/api/v1/schedule/simulate?from=2027-01-16T00:00:00Z&to=2027-03-16T00:00:00Z"
        )
        assert (status, body["error"]["details"]["field"]) == (400, "to")
    assert await r.xlen(keys.control) == 3  # only the initial apply: nothing written


async def test_windows_and_calendars_open_now_and_next(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys, CONFIG, clock=FakeClock(T0)) as api:
        await r.zadd(
            keys.window_running("nightly"),
            {"clean:1": time.time() * 1000 + 600_000, "gone:1": time.time() * 1000 - 1},
        )  # gone:1's lease expired: not counted
        _, body, _ = await api.call("GET", "/api/v1/windows")
        [nightly] = body["windows"]
        assert (nightly["open_now"], nightly["closes_at"]) == (True, "2027-01-15T10:00:00+00:00")
        assert (nightly["running"], nightly["max_concurrent"]) == (1, 1)
        _, body, _ = await api.call("GET", "/api/v1/calendars")
        [nyse] = body["calendars"]
        assert (nyse["open_now"], nyse["next_open"]) == (False, "2027-01-15T14:30:00+00:00")
        assert nyse["definition"]["holidays"] == ["2027-01-18"]


async def test_badge_shows_last_outcome_and_age(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys, CONFIG, clock=FakeClock(T0)) as api:
        await Reporter(r, Config(namespace=keys.ns)).record(
            TaskResult(
                run_id="hc:1",
                task="hc",
                handler="h",
                attempt=1,
                trigger="schedule",
                scheduled_for=T0,
                status="failed",
                started_at=T0 - 400,
                finished_at=T0 - 300,
                duration_s=100.0,
                executor="e",
            )
        )
        status, svg, headers = await api.call("GET", "/api/v1/tasks/hc/badge.svg")
        assert status == 200 and headers["Content-Type"].startswith("image/svg+xml")
        assert "<title>hc: failed 5m ago</title>" in svg
        assert 'fill="#e05d44"' in svg
        await r.hset(keys.schedule_state("hc"), "paused", 1)
        assert "hc: paused" in (await api.call("GET", "/api/v1/tasks/hc/badge.svg"))[1]


async def test_upcoming_after_outside_the_representable_days_names_the_field(
    r: Redis, keys: Keys
) -> None:
    async with running_api(r, keys, CONFIG) as api:
        for after in ("9999-12-31T23:00:00", "0537-01-01T00:00:00"):
            path = f"/api/v1/schedule/upcoming?after={after}&hours=744"
            status, body, _ = await api.call("GET", path, role="viewer")
            assert (status, body["error"]["details"]["field"]) == (400, "after"), after
