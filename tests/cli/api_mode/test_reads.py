"""``--api`` for the read commands: ``status``, ``schedule``, ``history``, ``explain``,
``priority`` print the same as on Redis, in every ``-o`` format; ``dashboard`` draws the
same frame and ``report`` makes the same report."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
import yaml
from click.testing import CliRunner

from services.cli import history_cmd
from services.cli.main import cli
from services.reporter.alerting.transition import Observation
from services.reporter.service import Reporter
from shared.config.models import Config
from shared.contract.decisions import Cause, Decision, Outcome
from shared.contract.events import TaskResult
from shared.contract.keys import EXECUTORS_GROUP, Keys
from shared.contract.readmodel import ExecutorBeat, RunProgress
from shared.runtime.clock import FakeClock
from shared.runtime.redis import client
from tests.cli.api_mode.conftest import ADMIN, both, outputs, same_in_every_format
from tests.cli.conftest import Invoke, raise_alerts

NOW = float(int(time.time()))  # whole seconds: a datetime keeps no finer than µs
CLOCK = FakeClock(NOW)
"""Near the real time: the API server's clock says what is due, and the history streams'
entry ids are the reporter's real record times."""


def _seed_health(r: redis.Redis, keys: Keys, redis_url: str) -> None:
    r.set(keys.scheduler_leader, "4:scheduler-z")  # no expiry: the lease shown stays put
    beat = ExecutorBeat(id="exec-2", host="h2", pid=7, started_at=NOW - 60, last_beat=NOW,
                        inflight=1, max_concurrent=4)  # fmt: skip
    r.hset(keys.executor("exec-2"), mapping=beat.to_fields())  # type: ignore[arg-type]
    r.expire(keys.executor("exec-2"), 600)
    # Far from now both ways: the API's clock and this one agree on what is due.
    r.zadd(keys.schedule_next, {"health": NOW - 86400, "sweep": NOW + 86400})
    r.sadd(keys.schedule_paused, "sweep")
    stream = keys.due("normal")
    r.xgroup_create(stream, EXECUTORS_GROUP, id="$", mkstream=True)
    r.xadd(stream, {"n": "1"})
    disk = Observation(key="system.disk", severity="critical", title="disk 95 %", at=NOW)
    raise_alerts(redis_url, keys, disk)


def test_status_shows_the_same_through_the_api(
    wk: Invoke, api: str, sync_r: redis.Redis, keys: Keys, redis_url: str
) -> None:
    _seed_health(sync_r, keys, redis_url)
    for fmt in ("table", "wide"):
        direct, via_api = outputs(wk, api, "status", "-o", fmt, clock=CLOCK)
        assert via_api == direct
    direct, via_api = both(wk, api, "status", "--json", clock=CLOCK)
    for shown in (direct, via_api):
        shown["redis"]["used_memory"] = None  # moves between two reads
    assert via_api == direct
    assert direct["scheduler"]["leader"] == "4:scheduler-z"
    assert direct["tasks"] == {"total": 4, "paused": 1, "due": 1}
    assert (direct["alerts_active"], direct["queues"]["normal"]["waiting"]) == (1, 1)
    assert [e["id"] for e in direct["executors"]] == ["exec-2"]


def test_schedule_and_its_simulation_are_the_same_through_the_api(
    wk: Invoke, api: str, sync_r: redis.Redis, keys: Keys
) -> None:
    fires = same_in_every_format(wk, api, "schedule", "--hours", "48")
    assert {f["task"] for f in fires} == {"health", "sweep"}
    # Paused as the scheduler records a pause (no scheduler runs here).
    sync_r.sadd(keys.schedule_paused, "sweep")
    sync_r.hset(keys.schedule_state("sweep"), "paused", 1)
    simulated = same_in_every_format(wk, api, "schedule", "--source", "running",
                                     "--from", "2031-03-03", "--to", "2031-03-04")  # fmt: skip
    outcomes = {(f["task"], f["outcome"]) for f in simulated["fires"]}
    assert outcomes == {("health", "fired"), ("sweep", "skipped")}


def test_schedule_through_the_api_uses_the_running_config(
    api: str, tmp_path: Path, keys: Keys
) -> None:
    # This machine's config reads times in Tokyo; the API's (the running one) in UTC:
    # through the API, sweep's "30 2 * * *" fires at 02:30 UTC, as the scheduler fires it.
    local = tmp_path / "local.yml"
    local.write_text(yaml.safe_dump({"namespace": keys.ns, "timezone": "Asia/Tokyo"}))
    start = FakeClock(datetime(2031, 3, 3, 12, tzinfo=UTC))
    shown = CliRunner().invoke(
        cli, ["--api", api, "schedule", "--hours", "48", "-c", str(local), "--json"],
        env=ADMIN | {"NO_COLOR": None}, obj={"clock": start},
    )  # fmt: skip
    assert shown.exit_code == 0, shown.output
    sweeps = [f["at"] for f in json.loads(shown.stdout) if f["task"] == "sweep"]
    assert sweeps == ["2031-03-04T02:30:00+00:00", "2031-03-05T02:30:00+00:00"]


def _result(n: int, task: str, status: str, age_s: float) -> TaskResult:
    finished = NOW - age_s
    steps = [{"name": "scan", "status": "succeeded", "duration_s": 0.5, "counts": {"files": 3}}]
    return TaskResult(
        run_id=f"{task}:{n}", task=task, handler="command", attempt=1, trigger="schedule",
        scheduled_for=finished - 5, status=status, started_at=finished - 5,
        finished_at=finished, duration_s=5.0, executor="e1", message=f"run {n}",
        details={"steps": steps},
        error=None if status == "succeeded" else {"type": "HandlerError", "message": "disk full"},
    )  # fmt: skip


def _record(redis_url: str, keys: Keys, results: list[TaskResult]) -> None:
    async def main() -> None:
        r = client(redis_url)
        try:
            await Reporter(r, Config(namespace=keys.ns)).record_batch(results)
        finally:
            await r.aclose()

    asyncio.run(main())


def test_history_is_the_same_through_the_api(
    wk: Invoke, api: str, keys: Keys, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_cmd, "PAGE", 3)  # several pages both ways, filtered ones too
    results = [_result(n, "sweep" if n % 3 else "health", "failed" if n % 4 == 0 else "succeeded",
                       age_s=4000 - n) for n in range(1, 13)]  # fmt: skip
    _record(redis_url, keys, results)
    everything = same_in_every_format(wk, api, "history", clock=CLOCK)
    assert everything["source"] == "redis" and len(everything["results"]) == 12
    assert everything["results"][0]["steps"][0]["name"] == "scan"
    for args in (("sweep",), ("--status", "failed"), ("--limit", "5"), ("--since", "3990s"),
                 ("sweep", "--status", "succeeded", "--limit", "2"), ("--steps",)):  # fmt: skip
        shown = same_in_every_format(wk, api, "history", *args, clock=CLOCK)
        assert shown["results"], args


def test_explain_is_the_same_through_the_api_and_unknown_tasks_exit_3(
    wk: Invoke, api: str, sync_r: redis.Redis, keys: Keys
) -> None:
    made = [
        Decision(slot=str(int(NOW * 1000)), outcome=Outcome.FIRED, run_id="sweep:1"),
        Decision(slot="m1-0", outcome=Outcome.REFUSED, cause=Cause.DISABLED, reason="disabled"),
        Decision(slot="2", outcome=Outcome.SKIPPED, cause=Cause.WINDOW, reason="closed"),
    ]
    for i, decision in enumerate(made):
        sync_r.lpush(keys.decisions("sweep"), replace(decision, at_ms=int(NOW * 1000) + i).entry())
    shown = same_in_every_format(wk, api, "explain", "sweep")
    assert [d["outcome"] for d in shown] == ["fired", "refused", "skipped"]
    assert same_in_every_format(wk, api, "explain", "sweep", "-n", "1")[0]["outcome"] == "skipped"
    assert same_in_every_format(wk, api, "explain", "manual") == []
    for prefix in ((), ("--api", api)):
        missing = wk(*prefix, "explain", "nope", env=ADMIN)
        assert missing.exit_code == 3, missing.output
        assert "unknown task 'nope'" in missing.stderr


def test_priority_reads_the_success_rate_through_the_api(
    wk: Invoke, api: str, sync_r: redis.Redis, keys: Keys
) -> None:
    sync_r.hset(keys.schedule_state("sweep"), mapping={"sched_results": 4, "sched_successes": 1})
    shown = same_in_every_format(wk, api, "priority", "sweep")
    assert shown["history"] is True and shown["success_rate"] == 25.0
    refused = wk("--api", api, "--token", "nope", "priority", "sweep")
    assert refused.exit_code == 5, refused.output  # not quietly "no history"


def test_dashboard_frame_is_the_same_through_the_api(
    wk: Invoke, api: str, sync_r: redis.Redis, keys: Keys, redis_url: str
) -> None:
    _seed_health(sync_r, keys, redis_url)
    sync_r.zadd(keys.running("health"), {"health:77": NOW * 1000 + 600_000})
    progress = RunProgress(done=3, total=4, note="probing disks", updated_at=NOW, executor="e")
    sync_r.hset(keys.run_progress("health:77"), mapping=progress.to_fields())  # type: ignore[arg-type]
    _record(redis_url, keys, [_result(n, "sweep", "succeeded", 60 - n) for n in range(12)])
    direct, via_api = outputs(wk, api, "dashboard", "--once", clock=CLOCK)
    assert via_api == direct
    for shown in ("4:scheduler-z", "health:77", "75%", "probing disks", "run 11", "24h00m"):
        assert shown in direct, shown


def test_report_is_the_same_through_the_api_but_for_when_it_was_made(
    wk: Invoke, api: str, keys: Keys, redis_url: str
) -> None:
    yesterday_noon = NOW - NOW % 86_400 - 43_200
    _record(redis_url, keys, [_result(n, "sweep", "failed" if n % 2 else "succeeded",
                                      NOW - yesterday_noon - n) for n in range(6)])  # fmt: skip
    # Yesterday is over both ways: only the time of making differs (the API's own clock).
    day = datetime.fromtimestamp(NOW - 86_400, UTC).date().isoformat()
    direct, via_api = both(wk, api, "report", "daily", "--date", day, "--format", "json",
                           clock=CLOCK)  # fmt: skip
    for shown in (direct, via_api):
        shown.pop("generated_at")  # when each was made: the API's own clock
    assert via_api == direct and direct["date"] == day
    assert direct["failures"]  # the day's runs are in it
    texts = outputs(wk, api, "report", "daily", "--date", day, "--format", "md", clock=CLOCK)
    # Made again, each at its own instant: the line that says when differs, nothing else.
    same = [[line for line in t.splitlines() if "enerated" not in line] for t in texts]
    assert same[1] == same[0] and len(same[0]) < len(texts[0].splitlines())
    assert wk("--api", api, "--token", "nope", "report", "daily").exit_code == 5
