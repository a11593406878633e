"""Retention of Watchkeeper's own data on real Redis: a dry run changes nothing, a real run
removes exactly what is past retention, and no stream is trimmed below what a consumer
group still needs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from services.executor.handlers import registry
from services.executor.handlers.base import RunContext
from services.executor.handlers.retention import RetentionParams, retention, run_retention
from services.executor.handlers.retention_plan import day_of_key, expired_days
from services.executor.rollback.store import RollbackStore
from shared.contract.keys import Keys
from shared.runtime.clock import FakeClock
from shared.runtime.redis import Redis, text
from shared.runtime.rollbacks import RollbackPoint

DAY = 86_400.0
NOW = 1_800_000_000.0  # 2027-01-15 08:00 UTC


def ms(days_ago: float) -> int:
    return int((NOW - days_ago * DAY) * 1000)


def yyyymmdd(days_ago: float) -> str:
    return datetime.fromtimestamp(NOW - days_ago * DAY, UTC).strftime("%Y%m%d")


def test_days_of_keys() -> None:
    assert day_of_key("ns:metrics:backup:20270105") == datetime(2027, 1, 5).date()
    assert day_of_key("ns:reports:daily:2027-01-05") == datetime(2027, 1, 5).date()
    assert day_of_key("ns:metrics:backup:20271345") is None
    cutoff = datetime(2027, 1, 5, 12, tzinfo=UTC).timestamp()
    keys = ["m:20270103", "m:20270104", "m:20270105", "m:x"]
    assert expired_days(keys, cutoff) == ["m:20270103", "m:20270104"]  # the 5th is not over


async def seed(r: Redis, keys: Keys, store: RollbackStore) -> None:
    """Data on both sides of a 30-day cutoff (rollbacks: 7 days, reports: 90 days)."""
    for days_ago in (40, 35, 10):
        await r.xadd(keys.history, {"n": days_ago}, id=f"{ms(days_ago)}-0")
    for days_ago in (40, 1):
        await r.xadd(keys.task_history("backup"), {"n": days_ago}, id=f"{ms(days_ago)}-0")
    for days_ago in (50, 45, 40, 5):  # results: the reporter acked 50, still holds 45
        await r.xadd(keys.results, {"n": days_ago}, id=f"{ms(days_ago)}-0")
    await r.xgroup_create(keys.results, "reporter", id="0")
    await r.xgroup_create(keys.results, "scheduler", id="$")  # reads only what comes next
    got: Any = await r.xreadgroup("reporter", "c1", {keys.results: ">"}, count=2)
    await r.xack(keys.results, "reporter", got[0][1][0][0])
    await r.xadd(keys.alerts_stream, {"n": 60}, id=f"{ms(60)}-0")  # never read by its group
    await r.xgroup_create(keys.alerts_stream, "notifier", id="0")
    for name, days_ago in (("old", 31), ("new", 29)):
        await r.hset(keys.result(name), mapping={"finished_at": NOW - days_ago * DAY})
    await r.hset(keys.result("garbled"), mapping={"status": "failed"})
    for days_ago in (40, 31, 30, 0):
        await r.hset(keys.metrics("backup", yyyymmdd(days_ago)), "runs", 1)
    await r.set(keys.report("daily", "2026-10-01"), "{}")  # 106 days old
    await r.set(keys.report("daily", "2027-01-14"), "{}")
    for name, days_ago in (("rb-old", 8), ("rb-new", 6)):
        created = NOW - days_ago * DAY
        await store.save(RollbackPoint(id=name, task="t", run_id="r", created_at=created,
                                       root_paths=(), files=(), total_bytes=0))  # fmt: skip


async def state(r: Redis, keys: Keys) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async for key in r.scan_iter(f"{keys.ns}:*"):
        name = text(key)
        kind = text(await r.type(name))
        if kind == "stream":
            out[name] = [text(i) for i, _ in await r.xrange(name)]
        else:
            out[name] = kind
    return out


STREAMS = ["stream_emergency", "stream_triggers", "stream_control", "stream_results",
           "stream_alerts",
           *(f"stream_due_{p}" for p in ("critical", "high", "normal", "low"))]  # fmt: skip
PARAMS = RetentionParams(history_days=30, reports_days=90, rollback_days=7)


async def test_dry_run_changes_nothing_and_a_real_run_removes_exactly_the_expired(
    r: Redis, keys: Keys, tmp_path: Path
) -> None:
    clock = FakeClock(NOW)
    store = RollbackStore(r, keys, tmp_path / "rollbacks", clock)
    await seed(r, keys, store)
    before = await state(r, keys)

    counted = await run_retention(r, keys, clock, PARAMS.model_copy(update={"dry_run": True}),
                                  dry_run=True)  # fmt: skip
    assert await state(r, keys) == before
    removed = await run_retention(r, keys, clock, PARAMS, dry_run=False)
    assert (
        removed
        == counted
        == {
            "stream_entries": 2 + 1,  # history 40 and 35; backup's 40
            **dict.fromkeys(STREAMS, 0),
            "stream_results": 1,  # 50 only: 45 is pending
            "results": 1,
            "daily_metrics": 2,  # 40 and 31 days ago; 30 days ago is the cutoff's own day
            "reports": 1,
            "rollback_points": 1,
        }
    )
    after = await state(r, keys)
    gone = set(before) - set(after)
    assert gone == {
        keys.result("old"),
        keys.metrics("backup", yyyymmdd(40)),
        keys.metrics("backup", yyyymmdd(31)),
        keys.report("daily", "2026-10-01"),
        keys.rollback("rb-old"),
    }
    assert after[keys.history] == [f"{ms(10)}-0"]
    assert after[keys.task_history("backup")] == [f"{ms(1)}-0"]
    # 45 is pending in the reporter's group: kept, and everything after it
    assert after[keys.results] == [f"{ms(d)}-0" for d in (45, 40, 5)]
    assert after[keys.alerts_stream] == [f"{ms(60)}-0"]  # its group has not read it yet
    assert [p.id for p in await store.list()] == ["rb-new"]
    assert await run_retention(r, keys, clock, PARAMS, dry_run=False) == dict.fromkeys(removed, 0)


async def test_the_builtin_handler_is_registered_and_runs(r: Redis, keys: Keys) -> None:
    assert registry.get("retention") is not None
    await r.hset(keys.result("old"), mapping={"finished_at": NOW - 40 * DAY})
    ctx = RunContext(run_id="ret:1", task="retention", attempt=1, clock=FakeClock(NOW),
                     log=structlog.get_logger(), redis=r, keys=keys)  # fmt: skip
    outcome = await retention(ctx, RetentionParams(history_days=30))
    assert outcome.details["results"] == 1
    assert outcome.message.startswith("removed ")
    assert not await r.exists(keys.result("old"))
