"""`watchkeeper tasks list|show|enable|disable|pause|resume|delete` on real Redis."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import msgpack
import redis
import yaml

from shared.config import taskdefs
from shared.contract.keys import Keys
from shared.runtime.clock import FakeClock
from tests.cli.conftest import Invoke, as_json


def _control(sync_r: redis.Redis, keys: Keys) -> list[tuple[str, dict[str, object]]]:
    return [(f[b"type"].decode(), msgpack.unpackb(f[b"body"]))
            for _, f in sync_r.xrange(keys.control)]  # fmt: skip


def test_list_shows_every_stored_task_with_state_and_next_fire(
    wk: Invoke, sync_r: redis.Redis, keys: Keys
) -> None:
    assert wk("apply").exit_code == 0
    sync_r.zadd(keys.schedule_next, {"health": 1_900_000_000})
    state = {"last_status": "failed", "runs": 4, "failures": 1, "last_run_at": 1.5e9}
    sync_r.hset(keys.schedule_state("sweep"), mapping=state)  # type: ignore[arg-type]
    sync_r.sadd(keys.schedule_paused, "sweep")
    rows = {row["name"]: row for row in as_json(wk("tasks", "list", "-o", "json"))}
    assert sorted(rows) == ["health", "manual", "sweep"]
    assert rows["health"]["next_fire"] == 1_900_000_000
    assert rows["health"]["schedule"] == "every 1h"
    assert rows["manual"]["schedule"] == "manual only"
    assert (rows["sweep"]["paused"], rows["sweep"]["last_status"], rows["sweep"]["runs"]) == (
        True, "failed", 4,
    )  # fmt: skip
    assert set(rows["health"]) >= {"handler", "enabled", "priority", "window", "failures"}
    table = wk("tasks", "list").stdout
    assert "sweep" in table and "paused" in table and "2030-03-17 17:46:40Z" in table
    assert "SCHEDULE" in wk("tasks", "list", "-o", "wide").stdout
    assert yaml.safe_load(wk("tasks", "list", "-o", "yaml").stdout) == list(rows.values())
    assert json.loads(wk("tasks", "list", "--json").stdout) == list(rows.values())


def test_show_gives_the_definition_state_and_next_fires(wk: Invoke) -> None:
    assert wk("apply").exit_code == 0
    clock = FakeClock(datetime(2031, 1, 1, 2, 0, tzinfo=UTC))
    shown = as_json(wk("tasks", "show", "sweep", "-n", "2", "-o", "json", obj={"clock": clock}))
    assert shown["definition"]["params"] == {"argv": ["true"]}
    assert shown["next_fires"] == ["2031-01-01T02:30:00+00:00", "2031-01-02T02:30:00+00:00"]
    missing = wk("tasks", "show", "nope")
    assert missing.exit_code == 3
    assert "unknown task 'nope'" in missing.stderr


def test_enable_and_disable_change_the_stored_definition_and_tell_the_scheduler(
    wk: Invoke, sync_r: redis.Redis, keys: Keys
) -> None:
    assert wk("apply").exit_code == 0
    sync_r.delete(keys.control)
    done = wk("tasks", "disable", "sweep")
    assert done.exit_code == 0, done.output
    assert taskdefs.parse(sync_r.hget(keys.taskdefs, "sweep")).enabled is False
    assert _control(sync_r, keys) == [("control.task_changed", {"task": "sweep", "deleted": False})]
    assert wk("tasks", "enable", "sweep").exit_code == 0
    assert taskdefs.parse(sync_r.hget(keys.taskdefs, "sweep")).enabled is True
    assert wk("tasks", "enable", "nope").exit_code == 3


def test_delete_removes_the_definition_after_confirmation(
    wk: Invoke, sync_r: redis.Redis, keys: Keys
) -> None:
    assert wk("apply").exit_code == 0
    refused = wk("tasks", "delete", "manual")  # no --yes and no terminal to answer: aborted
    assert refused.exit_code == 1
    assert sync_r.hexists(keys.taskdefs, "manual")
    assert wk("tasks", "delete", "manual", "--yes").exit_code == 0
    assert not sync_r.hexists(keys.taskdefs, "manual")
    assert ("control.task_changed", {"task": "manual", "deleted": True}) in _control(sync_r, keys)
    assert wk("tasks", "delete", "manual", "--yes").exit_code == 3


def test_pause_and_resume_send_control_events_for_known_tasks_only(
    wk: Invoke, sync_r: redis.Redis, keys: Keys
) -> None:
    assert wk("tasks", "pause", "health", "--reason", "maintenance").exit_code == 0
    assert wk("resume", "health").exit_code == 0  # the top-level spelling is the same command
    assert _control(sync_r, keys) == [
        ("control.paused", {"task": "health", "reason": "maintenance"}),
        ("control.resumed", {"task": "health"}),
    ]
    unknown = wk("pause", "nope")
    assert unknown.exit_code == 3
    assert len(_control(sync_r, keys)) == 2
