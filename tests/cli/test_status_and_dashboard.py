"""`watchkeeper status` and `dashboard` read the deployment's health from Redis."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from services.reporter.alerting.transition import Observation
from shared.contract.codec import encode
from shared.contract.events import TaskResult
from shared.contract.keys import EXECUTORS_GROUP, Keys
from shared.contract.readmodel import ExecutorBeat, RunProgress
from shared.runtime.clock import FakeClock
from shared.runtime.embedded import EmbeddedRedis
from shared.runtime.probes import RedisFacts
from tests.cli.conftest import Invoke, as_json, raise_alerts
from tests.support.processes import WATCHKEEPER, cli_env

NOW = datetime(2031, 3, 4, 12, 0, tzinfo=UTC)
CLOCK = {"clock": FakeClock(NOW)}
ALERTS = (
    Observation(key="system.disk", severity="critical", title="disk 95 %", at=NOW.timestamp()),
    Observation(key="task.failing:sweep", severity="warning", title="sweep failing",
                labels={"task": "sweep"}, at=NOW.timestamp()),
)  # fmt: skip


def _seed(r: redis.Redis, keys: Keys, redis_url: str) -> None:
    now = NOW.timestamp()
    r.set(keys.scheduler_leader, "3:scheduler-a", px=10_000)
    beat = ExecutorBeat(id="exec-1", host="h1", pid=42, started_at=now - 60, last_beat=now,
                        inflight=1, max_concurrent=4)  # fmt: skip
    r.hset(keys.executor("exec-1"), mapping=beat.to_fields())  # type: ignore[arg-type]
    r.expire(keys.executor("exec-1"), 60)
    r.zadd(keys.schedule_next, {"health": now - 10, "sweep": now + 3600})
    r.sadd(keys.schedule_paused, "sweep")
    r.zadd(keys.schedule_retries, {"sweep|r1|2|schedule|0": now + 60})
    raise_alerts(redis_url, keys, *ALERTS)
    stream = keys.due("high")
    r.xgroup_create(stream, EXECUTORS_GROUP, id="$", mkstream=True)
    r.xadd(stream, {"n": "1"})
    r.xreadgroup(EXECUTORS_GROUP, "exec-1", {stream: ">"}, count=1)  # in flight
    r.xadd(stream, {"n": "2"})  # waiting


def test_status_reports_leader_executors_counts_and_queues(
    wk: Invoke, sync_r: redis.Redis, keys: Keys, redis_url: str
) -> None:
    assert wk("apply").exit_code == 0
    _seed(sync_r, keys, redis_url)
    status = as_json(wk("status", "-o", "json", obj=CLOCK))
    assert status["scheduler"]["leader"] == "3:scheduler-a"
    assert 0 < status["scheduler"]["lease_ttl_s"] <= 10
    assert [e["id"] for e in status["executors"]] == ["exec-1"]
    assert status["tasks"] == {"total": 3, "paused": 1, "due": 1}
    assert status["queues"]["high"] == {"waiting": 1, "in_flight": 1}
    assert status["queues"]["low"] == {"waiting": 0, "in_flight": 0}
    assert (status["retries_pending"], status["alerts_active"]) == (1, 2)
    # The session's server runs without AOF and without save rules.
    assert any("persists nothing" in w for w in status["warnings"])
    assert not any("leader" in w or "executor" in w for w in status["warnings"])
    text = wk("status", obj=CLOCK).stdout
    assert "3:scheduler-a" in text and "high 1+1" in text and "warning: Redis persists" in text
    assert _fact(text, "active alerts") == "2"


def _fact(text: str, name: str) -> str:
    """The value beside ``name`` in the status table."""
    line = next(line for line in text.splitlines() if line.strip().startswith(name))
    return line.strip().removeprefix(name).strip()


def test_status_of_an_empty_deployment_warns_and_has_no_active_alerts(wk: Invoke) -> None:
    status = as_json(wk("status", "--json"))
    assert status["alerts_active"] == 0
    expected = {"no scheduler leader: nothing is being scheduled",
                "no executor alive: due runs wait in the queues"}  # fmt: skip
    assert expected <= set(status["warnings"])
    assert _fact(wk("status").stdout, "active alerts") == "none"


def test_status_says_none_once_the_last_alert_resolved(
    wk: Invoke, keys: Keys, redis_url: str
) -> None:
    # Resolving the last alert empties the reporter's index, and Redis drops an empty zset.
    raise_alerts(redis_url, keys, ALERTS[0], resolve=(ALERTS[0].key,))
    assert as_json(wk("status", "-o", "json"))["alerts_active"] == 0
    assert _fact(wk("status").stdout, "active alerts") == "none"
    raise_alerts(redis_url, keys, ALERTS[1])
    assert as_json(wk("status", "-o", "json"))["alerts_active"] == 1


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "redis", port=None, appendonly=True)
    server.start()
    yield server
    server.stop()


def test_redis_risks_are_judged_from_the_server(wk: Invoke, private_redis: EmbeddedRedis) -> None:
    env = {"REDIS_URL": private_redis.url}
    warnings = as_json(wk("status", "-o", "json", env=env))["warnings"]
    assert not any("Redis" in w for w in warnings)  # AOF on, noeviction
    client = redis.Redis.from_url(private_redis.url)
    client.config_set("maxmemory-policy", "allkeys-lru")
    client.close()
    warnings = as_json(wk("status", "-o", "json", env=env))["warnings"]
    assert any("maxmemory-policy is allkeys-lru" in w for w in warnings)


@pytest.mark.parametrize(
    ("policy", "aof", "save", "expected"),
    [
        ("noeviction", True, "", []),
        ("noeviction", False, "3600 1", []),
        ("noeviction", False, "", ["persists nothing"]),
        ("volatile-lru", True, "", ["maxmemory-policy is volatile-lru"]),
        (None, None, None, []),  # a server that will not say is not accused
    ],
)
def test_redis_facts_warnings(
    policy: str | None, aof: bool | None, save: str | None, expected: list[str]
) -> None:
    facts = RedisFacts(version="7", maxmemory_policy=policy, aof=aof, rdb_save=save,
                       used_memory=None)  # fmt: skip
    found = facts.warnings()
    assert len(found) == len(expected)
    assert all(e in f for e, f in zip(expected, found, strict=True))


def _result(task: str, status: str, finished_at: float) -> TaskResult:
    return TaskResult(run_id=f"{task}:1", task=task, handler="command", attempt=1,
                      trigger="manual", scheduled_for=finished_at - 1, status=status,
                      started_at=finished_at - 1, finished_at=finished_at, duration_s=1.0,
                      executor="exec-1", message=f"{task} says {status}")  # fmt: skip


def test_dashboard_once_renders_every_section(
    wk: Invoke, sync_r: redis.Redis, keys: Keys, redis_url: str
) -> None:
    assert wk("apply").exit_code == 0
    _seed(sync_r, keys, redis_url)
    now = NOW.timestamp()
    sync_r.zadd(
        keys.running("health"),
        {"health:77": time.time() * 1000 + 600_000, "health:76": time.time() * 1000 - 1},
    )  # expired
    progress = RunProgress(done=3, total=4, note="probing disks", updated_at=now, executor="e")
    sync_r.hset(keys.run_progress("health:77"), mapping=progress.to_fields())  # type: ignore[arg-type]
    sync_r.xadd(keys.history, encode(_result("sweep", "failed", now - 30)))  # type: ignore[arg-type]
    done = wk("dashboard", "--once", obj=CLOCK)
    assert done.exit_code == 0, done.output
    out = done.stdout
    for section in ("Health", "Running", "Upcoming fires", "Recent results"):
        assert section in out
    assert "health:77" in out and "75%" in out and "probing disks" in out
    assert "health:76" not in out  # its lease expired: not running
    assert "due" in out and "1h00m" in out  # health is due, sweep fires in an hour
    assert "sweep says failed" in out
    assert "3:scheduler-a" in out


async def test_dashboard_stops_cleanly_on_ctrl_c(cfg: Path, redis_url: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *WATCHKEEPER, "dashboard", "-c", str(cfg), "--interval", "0.2", env=cli_env(redis_url),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    async with asyncio.timeout(30):
        started = await proc.stderr.readline()  # written once the signal handlers are set
        assert b"Ctrl-C to quit" in started
        proc.send_signal(signal.SIGINT)
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err
    assert b"Recent results" in out  # the last frame stays on screen
