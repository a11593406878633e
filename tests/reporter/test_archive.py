"""The PostgreSQL archive on a real server: rows equal results, redelivery adds nothing,
an outage is caught up, migrations are idempotent (also when raced)."""

# ruff: noqa: S608 -- SQL names the test namespace's own archive schema

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest

from services.reporter.archive.schema import MIGRATIONS, ident, migrate, schema_name
from services.reporter.archive.service import Archiver
from services.reporter.archive.store import ArchiveStore
from shared.config.models import Config, DatabaseSettings
from shared.contract.codec import encode
from shared.contract.events import AlertRaised, AlertResolved, Event, TaskResult
from shared.contract.keys import ARCHIVE_GROUP, Keys
from shared.runtime.clock import FakeClock
from shared.runtime.embedded import free_port
from shared.runtime.redis import Redis


@pytest.fixture
async def schema(pg_dsn: str, keys: Keys) -> AsyncIterator[str]:
    """The test namespace's archive schema, dropped afterwards."""
    name = schema_name(keys.ns)
    yield name
    conn = await asyncpg.connect(pg_dsn)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {ident(name)} CASCADE")
    finally:
        await conn.close()


def result(n: int, attempt: int = 1, status: str = "succeeded") -> TaskResult:
    return TaskResult(
        run_id=f"backup:{n}", task="backup" if n % 2 else "cleanup", handler="command",
        attempt=attempt, trigger="schedule", scheduled_for=1_795_400_000.0 + n, status=status,
        started_at=1_795_400_000.0 + n, finished_at=1_795_400_010.0 + n, duration_s=10.0,
        executor="e1", message="nul\x00 in text", details={"raw": b"bytes"},
        metrics={"bytes_freed": n},
        error=None if status == "succeeded" else {"type": "HandlerError", "message": "boom"},
    )  # fmt: skip


def alert(cls: type[AlertRaised] | type[AlertResolved], count: int = 1) -> Event:
    return cls(
        alert_id="a1", key="task.failing:backup", severity="warning", title="backup failing",
        message="3 failures", source="reporter", labels={"task": "backup"},
        first_seen=1_795_400_000.0, last_seen=1_795_400_100.0 + count, count=count,
    )  # fmt: skip


Make = Callable[..., Archiver]


@pytest.fixture
async def archiver(r: Redis, keys: Keys) -> AsyncIterator[Make]:
    """Archivers on the test namespace (their connections closed afterwards)."""
    made: list[Archiver] = []

    def make(url: str, retention: float | None = None) -> Archiver:
        db = DatabaseSettings(url=url, retention=retention)
        config = Config(namespace=keys.ns, database=db)
        made.append(Archiver(r, config, clock=FakeClock(1_795_400_000.0 + 30 * 86400),
                             name="archive-test"))  # fmt: skip
        return made[-1]

    yield make
    for a in made:
        await a.store.close()


async def publish(r: Redis, keys: Keys, events: list[Event]) -> None:
    for event in events:
        stream = keys.results if isinstance(event, TaskResult) else keys.alerts_stream
        await r.xadd(stream, encode(event))  # type: ignore[arg-type]


async def drain(a: Archiver) -> None:
    async with asyncio.timeout(10):
        while await a.run_once(block_ms=None):
            pass


async def rows(pg_dsn: str, schema: str, table: str, columns: str) -> list[tuple[object, ...]]:
    conn = await asyncpg.connect(pg_dsn)
    try:
        got = await conn.fetch(f"SELECT {columns} FROM {ident(schema)}.{table} ORDER BY id")
        return [tuple(row) for row in got]
    finally:
        await conn.close()


async def test_rows_equal_results_and_redelivery_adds_nothing(
    r: Redis, keys: Keys, pg_dsn: str, schema: str, archiver: Make
) -> None:
    a = archiver(pg_dsn)
    await a.start()
    events: list[Event] = [result(1), result(2, status="failed"), result(2, attempt=2),
                           result(3), alert(AlertRaised), alert(AlertResolved)]  # fmt: skip
    for _ in range(3):  # every entry delivered three times
        await publish(r, keys, events)
    await drain(a)

    executions = await rows(pg_dsn, schema, "executions", "run_id, attempt, status, message")
    assert executions == [
        ("backup:1", 1, "succeeded", "nul in text"),
        ("backup:2", 1, "failed", "nul in text"),
        ("backup:2", 2, "succeeded", "nul in text"),
        ("backup:3", 1, "succeeded", "nul in text"),
    ]
    assert await rows(pg_dsn, schema, "alerts", "event, alert_id, count") == [
        ("raised", "a1", 1),
        ("resolved", "a1", 1),
    ]
    assert (await r.xpending(keys.results, ARCHIVE_GROUP))["pending"] == 0
    assert await r.xlen(keys.dead) == 0
    store = ArchiveStore(pg_dsn, keys.ns)
    history = await store.history(since=0, status="failed")
    await store.close()
    assert [(h["run_id"], h["error"]) for h in history] == [
        ("backup:2", {"type": "HandlerError", "message": "boom"})
    ]


async def test_catches_up_after_postgresql_was_unreachable(
    r: Redis, keys: Keys, pg_dsn: str, schema: str, archiver: Make
) -> None:
    down = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"  # nothing listens
    a = archiver(down)
    await a.start()
    await publish(r, keys, [result(1), result(2), alert(AlertRaised)])
    for _ in range(4):  # more tries than the consumer's failure limit
        await a.run_once(block_ms=None)
    pending = await r.xpending(keys.results, ARCHIVE_GROUP)
    assert pending["pending"] == 2  # kept, not acked …
    assert await r.xlen(keys.dead) == 0  # … and not dead-lettered

    a.store.url = pg_dsn  # PostgreSQL is back
    await publish(r, keys, [result(3)])  # and more arrived meanwhile
    await drain(a)
    got = await rows(pg_dsn, schema, "executions", "run_id")
    assert sorted(got) == [("backup:1",), ("backup:2",), ("backup:3",)]
    assert len(await rows(pg_dsn, schema, "alerts", "alert_id")) == 1
    assert (await r.xpending(keys.results, ARCHIVE_GROUP))["pending"] == 0


async def test_a_row_postgresql_refuses_is_dead_lettered_alone(
    r: Redis, keys: Keys, pg_dsn: str, schema: str, archiver: Make
) -> None:
    a = archiver(pg_dsn)
    await a.start()
    await publish(r, keys, [result(1), result(2, attempt=2**40), result(3)])  # int32 overflow
    async with asyncio.timeout(10):
        while await r.xlen(keys.dead) == 0:
            await a.run_once(block_ms=None)
    await drain(a)
    assert sorted(await rows(pg_dsn, schema, "executions", "run_id")) == [
        ("backup:1",),
        ("backup:3",),
    ]
    assert (await r.xpending(keys.results, ARCHIVE_GROUP))["pending"] == 0


async def test_migrations_are_idempotent_and_safe_to_race(pg_dsn: str, schema: str) -> None:
    conns = [await asyncpg.connect(pg_dsn) for _ in range(3)]
    try:
        raced = await asyncio.gather(*(migrate(c, schema) for c in conns[:2]))
        everything = [v for v, _, _ in MIGRATIONS]
        assert sorted(raced) == [[], everything]  # one replica migrated, the other waited
        assert await migrate(conns[2], schema) == []
        versions = await conns[2].fetch(
            f"SELECT version FROM {ident(schema)}.schema_migrations ORDER BY version"
        )
        assert [row["version"] for row in versions] == everything
    finally:
        for conn in conns:
            await conn.close()


async def test_rows_past_database_retention_are_pruned_hourly(
    r: Redis, keys: Keys, pg_dsn: str, schema: str, archiver: Make
) -> None:
    # the clock is 30 days after 1_795_400_000; result(n) finished at 1_795_400_010 + n
    a = archiver(pg_dsn, retention=30 * 86400 - 11.5)
    await publish(r, keys, [result(1), result(2), result(3), alert(AlertRaised)])
    await a.start()
    await drain(a)  # archives, then prunes what finished before the cutoff: result(1)
    assert sorted(await rows(pg_dsn, schema, "executions", "run_id")) == [
        ("backup:2",),
        ("backup:3",),
    ]
    assert await a.prune_if_due() is None  # not due again within the hour
    assert isinstance(a.clock, FakeClock)
    a.clock.advance(3600)
    assert await a.prune_if_due() == {"executions": 2, "alerts": 1}
