"""`watchkeeper schedule` (upcoming fires) and `dead-letters list|requeue`."""

from __future__ import annotations

from datetime import UTC, datetime

import redis

from shared.contract.codec import encode
from shared.contract.events import TriggerRun
from shared.contract.keys import SCHEDULER_GROUP, Keys
from shared.runtime.clock import FakeClock
from shared.runtime.redis import Entry, dead_record
from tests.cli.conftest import Invoke, as_json

CLOCK = {"clock": FakeClock(datetime(2031, 3, 4, 0, 0, tzinfo=UTC))}


def test_schedule_lists_fires_across_tasks_in_time_order(
    wk: Invoke, sync_r: redis.Redis, keys: Keys
) -> None:
    assert wk("apply").exit_code == 0
    sync_r.sadd(keys.schedule_paused, "sweep")
    fires = as_json(wk("schedule", "--hours", "3", "-o", "json", obj=CLOCK))
    assert [(f["at"], f["task"]) for f in fires] == [
        ("2031-03-04T01:00:00+00:00", "health"),
        ("2031-03-04T02:00:00+00:00", "health"),
        ("2031-03-04T02:30:00+00:00", "sweep"),
    ]  # "manual" has no schedule; the window ends before 03:00
    assert fires[2]["paused"] is True and fires[0]["paused"] is False
    assert set(fires[0]) == {"at", "task", "local", "in_window", "paused"}
    table = wk("schedule", "--hours", "3", obj=CLOCK).stdout
    assert "2031-03-04 02:30:00Z" in table and "paused" in table
    assert wk("schedule", "--hours", "0").exit_code == 2


def test_a_disabled_task_has_no_upcoming_fires(wk: Invoke) -> None:
    assert wk("apply").exit_code == 0
    assert wk("tasks", "disable", "health").exit_code == 0
    fires = as_json(wk("schedule", "--hours", "3", "-o", "json", obj=CLOCK))
    assert {f["task"] for f in fires} == {"sweep"}


def _as_bytes(fields: dict[str, bytes | str]) -> dict[bytes, bytes]:
    return {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in fields.items()}


def _dead_trigger(r: redis.Redis, keys: Keys, task: str, reason: str) -> str:
    fields = encode(TriggerRun(task=task, reason="from a producer"))
    source_id = r.xadd(keys.triggers, fields)  # type: ignore[arg-type]
    entry = Entry(keys.triggers, source_id.decode(), _as_bytes(fields))
    record = dead_record(entry, SCHEDULER_GROUP, reason, "scheduler-a")
    r.xdel(keys.triggers, source_id)
    return r.xadd(keys.dead, dict(zip(record[::2], record[1::2], strict=True))).decode()


def test_dead_letters_list_shows_source_and_reason(
    wk: Invoke, sync_r: redis.Redis, keys: Keys
) -> None:
    first = _dead_trigger(sync_r, keys, "sweep", "unknown task")
    second = _dead_trigger(sync_r, keys, "health", "param cpu may not be set")
    listed = as_json(wk("dead-letters", "list", "-o", "json"))
    assert [d["id"] for d in listed] == [second, first]  # newest first
    assert listed[1] | {"dead_at": 0} == {
        "id": first, "dead_at": 0, "source": keys.triggers, "source_id": listed[1]["source_id"],
        "group": SCHEDULER_GROUP, "reader": "scheduler-a", "reason": "unknown task",
        "type": "trigger.run",
    }  # fmt: skip
    assert "param cpu may not be set" in wk("dead-letters", "list").stdout
    assert as_json(wk("dead-letters", "list", "--limit", "1", "--json"))[0]["id"] == second


def test_requeue_puts_the_original_entry_back_and_removes_the_record(
    wk: Invoke, sync_r: redis.Redis, keys: Keys
) -> None:
    dead_id = _dead_trigger(sync_r, keys, "sweep", "scheduler was upgraded since")
    done = wk("dead-letters", "requeue", dead_id)
    assert done.exit_code == 0, done.output
    ((_, fields),) = sync_r.xrange(keys.triggers)
    assert fields == _as_bytes(encode(TriggerRun(task="sweep", reason="from a producer")))
    assert sync_r.xlen(keys.dead) == 0
    assert wk("dead-letters", "requeue", dead_id).exit_code == 3
    assert wk("dead-letters", "requeue", "not-an-id").exit_code == 2
    assert wk("dead-letters", "requeue").exit_code == 2  # ids or --all


def test_requeue_all_and_refusal_of_foreign_sources(
    wk: Invoke, sync_r: redis.Redis, keys: Keys
) -> None:
    for task in ("a", "b"):
        _dead_trigger(sync_r, keys, task, "why")
    assert wk("dead-letters", "requeue", "--all").exit_code == 0
    assert (sync_r.xlen(keys.triggers), sync_r.xlen(keys.dead)) == (2, 0)
    foreign = sync_r.xadd(keys.dead, {"source": "other:stream:triggers", "orig_type": "x"})
    refused = wk("dead-letters", "requeue", foreign.decode())
    assert refused.exit_code == 1
    assert "is not a stream of namespace" in refused.stderr
    assert sync_r.xlen(keys.dead) == 1
