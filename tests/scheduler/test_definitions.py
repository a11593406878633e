"""The leader's compact definitions: parsed on demand, equal to what Redis holds."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from services.scheduler import runtime
from services.scheduler.definitions import Definitions
from shared.config import taskdefs
from shared.config.models import RetryPolicy, TaskAlerts, TaskConfig
from shared.contract.keys import Keys
from shared.runtime.clock import FakeClock
from shared.runtime.redis import Redis
from tests.scheduler.sched_support import T0, dues, make

RICH = TaskConfig(
    handler="command", params={"argv": ["backup", "--all"], "env": {"A": "1"}},
    schedule=[{"cron": "0 3 * * *"}, {"every": "6h"}], priority="high", timeout=90.0,
    retries=RetryPolicy(max=3), depends_on=["a"], cooldown=5.0, jitter=2.5,
    start=datetime(2030, 1, 1, 12), alerts=TaskAlerts(failure_rate=0.2), tags=["db"],
)  # fmt: skip


def test_a_definition_reads_back_equal_to_the_stored_one() -> None:
    defs = Definitions()
    raw = taskdefs.dump(RICH)
    assert defs.set("rich", raw) == RICH
    assert defs["rich"] == RICH == taskdefs.parse(raw)
    assert defs.same("rich", raw)
    assert not defs.same("rich", taskdefs.dump(RICH.model_copy(update={"timeout": 91.0})))
    assert list(defs) == ["rich"] and len(defs) == 1 and "rich" in defs


def test_only_the_most_recently_read_stay_parsed_and_evicted_ones_parse_again() -> None:
    defs = Definitions(kept=2)
    for name in ("a", "b", "c"):
        defs.set(name, taskdefs.dump(RICH.model_copy(update={"description": name})))
    first = defs["a"]
    assert defs["a"] is first  # kept parsed
    assert defs["b"].description == "b" and defs["c"]  # reads that push "a" out
    again = defs["a"]
    assert again is not first and again == first
    assert defs["c"].description == "c"


def test_a_bad_definition_is_refused_and_the_previous_one_kept() -> None:
    defs = Definitions()
    raw = taskdefs.dump(RICH)
    defs.set("rich", raw)
    with pytest.raises(ValidationError):
        defs.set("rich", b'{"handler": ""}')
    assert defs["rich"] == RICH and defs.same("rich", raw)
    defs.remove("rich")
    assert "rich" not in defs and not defs.same("rich", raw)


async def test_load_reads_every_definition_across_scan_chunks(r: Redis, keys: Keys) -> None:
    n = runtime.LOAD_CHUNK * 2 + 3
    tasks = {f"t{i:04d}": {"schedule": {"every": f"{i % 7 + 1}m"}} for i in range(n)}
    tasks["t0000"]["depends_on"] = ["t0001"]
    scheduler = await make(r, keys, FakeClock(T0), tasks)
    assert await scheduler.lease.acquire() and scheduler.lease.token
    await scheduler.rt.load(scheduler.lease.token)
    assert len(scheduler.rt.tasks) == len(scheduler.rt.schedules) == n
    assert await r.zcard(keys.schedule_next) == n
    assert scheduler.rt.dependents == {"t0001": ["t0000"]}
    # Tasks sharing a spec share one parsed trigger.
    assert scheduler.rt.schedules["t0000"].trigger is scheduler.rt.schedules["t0007"].trigger
    assert scheduler.rt.tasks["t0005"].schedule == [{"every": "6m"}]


async def test_load_shares_slots_of_calendar_filtered_schedules(r: Redis, keys: Keys) -> None:
    # A calendar trigger holds dicts (early closes), so it cannot key a dict by value.
    calendars = {"desk": {"timezone": "America/New_York", "sessions": {"mon-fri": "09:30-16:00"},
                          "early_close": {"2027-11-26": "13:00"}}}  # fmt: skip
    spec = {"schedule": {"every": "5m", "during": "desk"}}
    scheduler = await make(r, keys, FakeClock(T0), {"a": spec, "b": spec}, calendars=calendars)
    assert await scheduler.lease.acquire() and scheduler.lease.token
    await scheduler.rt.load(scheduler.lease.token)
    assert await r.zcard(keys.schedule_next) == 2
    assert (await r.zscore(keys.schedule_next, "a")) == (await r.zscore(keys.schedule_next, "b"))


async def test_a_stored_definition_that_does_not_read_is_left_out_of_the_load(
    r: Redis, keys: Keys
) -> None:
    scheduler = await make(r, keys, FakeClock(T0), {"good": {"schedule": {"every": "1m"}}})
    await r.hset(keys.taskdefs, "broken", '{"handler": "command", "timeout": "soon"}')
    assert await scheduler.lease.acquire() and scheduler.lease.token
    with capture_logs() as logs:
        await scheduler.rt.load(scheduler.lease.token)
    assert list(scheduler.rt.tasks) == ["good"] and list(scheduler.rt.schedules) == ["good"]
    (bad,) = [e for e in logs if e["event"] == "scheduler.bad_definition"]
    assert bad["task"] == "broken" and bad["problems"][0].startswith("timeout: ")


async def test_load_starts_each_schedule_where_first_move_would(r: Redis, keys: Keys) -> None:
    # Four tasks share one trigger; two have jitter (a fire time of their own in the slot).
    spec = {"schedule": {"every": "10m"}}
    tasks = {"a": spec, "b": spec, "j1": {**spec, "jitter": "1m"}, "j2": {**spec, "jitter": 59}}
    scheduler = await make(r, keys, FakeClock(T0 + 7), tasks)
    assert await scheduler.lease.acquire() and scheduler.lease.token
    await scheduler.rt.load(scheduler.lease.token)
    for name in tasks:
        move = scheduler.rt.first_move(name)
        assert await r.zscore(keys.schedule_next, name) == float(move.score)
        assert await r.hget(keys.schedule_slots, name) == (move.slot or "").encode()
    scores = {n: await r.zscore(keys.schedule_next, n) for n in tasks}
    assert scores["a"] == scores["b"] == (T0 + 600)
    assert scores["j1"] != scores["j2"]


async def test_a_tick_larger_than_the_parsed_kept_parses_each_definition_once(
    r: Redis, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tick sorts its tasks by priority before it plans them; a task's first sort
    # also builds its kit from the same parse, so each definition is parsed once even
    # when the tick holds more tasks than stay parsed.
    monkeypatch.setattr(runtime, "Definitions", lambda: Definitions(kept=4))
    tasks = {f"t{i:02d}": {"schedule": {"every": "10m"}, "priority": ("low", "critical")[i % 2]}
             for i in range(30)}  # fmt: skip
    clock = FakeClock(T0)
    scheduler = await make(r, keys, clock, tasks)
    await scheduler.run_once()  # leads, loads, reads apply's change events
    assert await dues(r, keys, "critical") == []
    parsed: list[bytes] = []
    real = taskdefs.parse

    def counting(raw: bytes) -> TaskConfig:
        parsed.append(raw)
        return real(raw)

    monkeypatch.setattr(taskdefs, "parse", counting)
    clock.set(T0 + 600)
    assert await scheduler.run_once() >= 30
    assert len(parsed) == 30
    assert [d.task for d in await dues(r, keys, "critical")] == [
        f"t{i:02d}" for i in range(1, 30, 2)
    ]
    assert [d.task for d in await dues(r, keys, "low")] == [f"t{i:02d}" for i in range(0, 30, 2)]
