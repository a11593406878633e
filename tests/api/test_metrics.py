"""``GET /metrics`` on a real server over real Redis, parsed by prometheus-client itself."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.api.app import create_app, serve
from services.api.metrics import METRIC_NAMES
from services.reporter.alerting.store import AlertStore
from services.reporter.alerting.transition import Observation
from services.reporter.service import Reporter
from services.scheduler.emitter import Emission, Emitter
from services.scheduler.occurrence import make_due
from shared.config import taskdefs
from shared.config.models import Config, TaskConfig
from shared.contract.codec import encode
from shared.contract.decisions import Cause, Decision, Outcome
from shared.contract.events import TaskResult
from shared.contract.keys import EXECUTORS_GROUP, REPORTER_GROUP, Keys
from shared.runtime.embedded import free_port
from shared.runtime.redis import Redis, ensure_group

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
async def api(r: Redis, keys: Keys) -> AsyncIterator[str]:
    port = free_port()
    runner = await serve(create_app(r, Config(namespace=keys.ns)), "127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def scrape(api: str) -> tuple[Samples, set[str]]:
    """Every sample by (name, labels), and the family names, as Prometheus would read them."""
    async with aiohttp.ClientSession() as session, session.get(f"{api}/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    samples: Samples = {}
    families = set()
    for family in text_string_to_metric_families(text):
        families.add(family.name)
        for s in family.samples:
            samples[s.name, frozenset(s.labels.items())] = s.value
    return samples, families


def _result(task: str, n: int, status: str, duration: float, **metrics: float) -> TaskResult:
    return TaskResult(
        run_id=f"{task}:{n}", task=task, handler="command", attempt=1, trigger="schedule",
        scheduled_for=1_795_400_000.0 + n, status=status, started_at=1_795_400_000.0 + n,
        finished_at=1_795_400_000.0 + n + duration, duration_s=duration, executor="e1",
        metrics=dict(metrics),
    )  # fmt: skip


def _labels(**kv: str) -> frozenset[tuple[str, str]]:
    return frozenset(kv.items())


async def _drain(reporter: Reporter) -> None:
    while await reporter.run_once(block_ms=None):
        pass


async def test_counters_equal_recorded_runs_after_redelivery_three_times(
    api: str, r: Redis, keys: Keys
) -> None:
    reporter = Reporter(r, Config(namespace=keys.ns))
    await reporter.start()
    results = [
        _result("backup", 1, "succeeded", 0.3),
        _result("backup", 2, "failed", 7.0),
        _result("backup", 3, "succeeded", 42.0),
        _result("cleanup", 1, "timed_out", 400.0),
    ]
    for _ in range(3):  # the executors publish every result three times (redelivery)
        for result in results:
            await r.xadd(keys.results, encode(result))  # type: ignore[arg-type]
    await _drain(reporter)
    assert await r.xlen(keys.history) == len(results)  # the reporter saw duplicates

    samples, families = await scrape(api)
    runs = {k: v for k, v in samples.items() if k[0] == "watchkeeper_task_runs_total"}
    assert runs == {
        ("watchkeeper_task_runs_total", _labels(task="backup", outcome="succeeded")): 2,
        ("watchkeeper_task_runs_total", _labels(task="backup", outcome="failed")): 1,
        ("watchkeeper_task_runs_total", _labels(task="cleanup", outcome="timed_out")): 1,
    }
    bucket = "watchkeeper_run_duration_seconds_bucket"
    assert samples[bucket, _labels(task="backup", le="0.5")] == 1
    assert samples[bucket, _labels(task="backup", le="15.0")] == 2
    assert samples[bucket, _labels(task="backup", le="+Inf")] == 3
    assert samples["watchkeeper_run_duration_seconds_count", _labels(task="backup")] == 3
    assert samples["watchkeeper_run_duration_seconds_sum", _labels(task="backup")] == 49.3
    assert samples["watchkeeper_run_duration_seconds_count", _labels(task="cleanup")] == 1
    last = samples["watchkeeper_last_success_timestamp_seconds", _labels(task="backup")]
    assert last == results[2].finished_at
    assert ("watchkeeper_last_success_timestamp_seconds", _labels(task="cleanup")) not in samples
    assert samples["watchkeeper_stream_pending_messages",
                   _labels(stream="results", group=REPORTER_GROUP)] == 0  # fmt: skip
    # every family is exported, even with no value yet (a dashboard never meets a gap)
    assert families == {name.removesuffix("_total") for name in METRIC_NAMES}


async def test_infrastructure_alerts_and_health(api: str, r: Redis, keys: Keys) -> None:
    reporter = Reporter(r, Config(namespace=keys.ns))
    await reporter.start()
    await taskdefs.put(r, keys, "hc", TaskConfig(handler="system_health_check"))
    await r.xadd(keys.results, {"type": "task.result", "v": "1", "body": b"\xc1"})  # garbage
    hc = _result("hc", 1, "succeeded", 1.0, health_score=87.5)
    await r.xadd(keys.results, encode(hc))  # type: ignore[arg-type]
    await _drain(reporter)
    # two executors joined the due streams; one is still beating
    for executor in ("e-live", "e-gone"):
        await ensure_group(r, keys.due("normal"), EXECUTORS_GROUP)
        await r.xreadgroup(EXECUTORS_GROUP, executor, {keys.due("normal"): ">"}, count=1)
    await r.hset(keys.executor("e-live"), "id", "e-live")
    await r.xadd(keys.due("normal"), {"type": "x"})
    await r.xreadgroup(EXECUTORS_GROUP, "e-live", {keys.due("normal"): ">"}, count=1)
    store = AlertStore.of(r, keys, Config().alerts)
    for key, severity in (("disk", "critical"), ("cpu", "warning"), ("mem", "warning")):
        await store.raise_(Observation(key=key, severity=severity, title=key, at=1.8e9))
    await store.raise_(Observation(key="old", severity="critical", title="old", at=1.8e9))
    await store.resolve("old", 1.8e9 + 60)  # resolved: no longer counted
    await r.set(keys.counter("alert_deliveries:slack:delivered"), 3)
    await r.set(keys.counter("alert_deliveries:ops-webhook:failed"), 1)

    samples, _ = await scrape(api)
    assert samples["watchkeeper_dead_letters_total", frozenset()] == 1
    assert samples["watchkeeper_health_score", frozenset()] == 87.5
    assert samples["watchkeeper_executors_alive", frozenset()] == 1
    assert samples["watchkeeper_stream_pending_messages",
                   _labels(stream="due:normal", group=EXECUTORS_GROUP)] == 1  # fmt: skip
    assert samples["watchkeeper_alerts_active", _labels(severity="critical")] == 1
    assert samples["watchkeeper_alerts_active", _labels(severity="warning")] == 2
    deliveries = "watchkeeper_alert_deliveries_total"
    assert samples[deliveries, _labels(channel="slack", outcome="delivered")] == 3
    assert samples[deliveries, _labels(channel="ops-webhook", outcome="failed")] == 1


async def test_scheduler_lateness_and_skipped_slots(api: str, r: Redis, keys: Keys) -> None:
    token = "1:test"
    await r.set(keys.scheduler_leader, token)
    emitter = Emitter(r, keys)
    spec = TaskConfig(handler="command")
    fires = {"1000000": 1_000.030, "2000000": 2_004.0}  # slot ms → emitted at (s)
    for slot, at in fires.items():
        due = make_due("a", spec, slot=slot, trigger="schedule",
                       scheduled_for=int(slot) / 1000, emitted_at=at)  # fmt: skip
        item = Emission(due=due, slot=slot, overlap="allow", lease_ms=1000)
        await emitter.emit(token, [item], int(at * 1000))
        await emitter.emit(token, [item], int(at * 1000) + 5)  # a duplicate is not counted
    skipped = [("a", Decision(slot="3", outcome=Outcome.SKIPPED, cause=Cause.WINDOW)),
               ("a", Decision(slot="4", outcome=Outcome.MISSED, cause=Cause.MISFIRE)),
               ("b", Decision(slot="4", outcome=Outcome.SKIPPED, cause=Cause.PAUSED))]  # fmt: skip
    await emitter.advance(token, [], skipped, 5_000_000)

    samples, _ = await scrape(api)
    late = "watchkeeper_fire_lateness_seconds"
    assert samples[f"{late}_bucket", _labels(le="0.025")] == 0
    assert samples[f"{late}_bucket", _labels(le="0.05")] == 1
    assert samples[f"{late}_bucket", _labels(le="5.0")] == 2
    assert samples[f"{late}_count", frozenset()] == 2
    assert samples[f"{late}_sum", frozenset()] == pytest.approx(4.030)
    skips = {k: v for k, v in samples.items() if k[0] == "watchkeeper_skipped_runs_total"}
    assert skips == {
        ("watchkeeper_skipped_runs_total", _labels(task="a", reason="window")): 1,
        ("watchkeeper_skipped_runs_total", _labels(task="a", reason="misfire")): 1,
        ("watchkeeper_skipped_runs_total", _labels(task="b", reason="paused")): 1,
    }
