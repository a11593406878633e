"""Network faults between the services and Redis, through :class:`FaultProxy`.

- 2 s of latency: a blocking read (``BLOCK_MS``) still answers, far inside the socket
  timeout, so a slow network never turns an idle read into an error;
- a half-open peer (accepts, never answers): the socket timeout turns the hang into
  an error the service loop retries, and the loop carries on once the peer heals
  (with a socket timeout scaled down to 1 s: the mechanism is the same at 30 s);
- a reply cut mid-way after Redis ran the command: the client retries, and neither the
  scheduler's emission (fired marker, set NX per slot) nor the executor's result
  publication (fenced by PEL ownership) happens twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

import pytest
import structlog

from services.executor.publish import Publisher
from services.scheduler.service import Scheduler
from shared.contract.codec import encode
from shared.contract.events import TriggerRun
from shared.contract.keys import EXECUTORS_GROUP, Keys
from shared.contract.scripts import source
from shared.runtime.clock import FakeClock
from shared.runtime.embedded import EmbeddedRedis
from shared.runtime.loop import repeat_until
from shared.runtime.redis import (
    BLOCK_MS,
    RETRY_CAP_S,
    SOCKET_TIMEOUT_S,
    Redis,
    client,
    ensure_group,
    read_group,
)
from tests.chaos.flow import holds
from tests.executor.executor_support import make_due, wait_for
from tests.scheduler.sched_support import T0, dues, make, result_of
from tests.support.proxy import FaultProxy

pytestmark = pytest.mark.chaos

LATENCY_S = 2.0


def _sha(name: str) -> bytes:
    """What an EVALSHA of script ``name`` carries on the wire."""
    return hashlib.sha1(source(name).encode()).hexdigest().encode()  # noqa: S324 (Redis's id)


async def _preload(r: Redis, *names: str) -> None:
    """Load scripts first, so the reply cut is the script's, not a NOSCRIPT retry's."""
    for name in names:
        await r.script_load(source(name))


def _logged(logs: list[dict[str, Any]], event: str) -> bool:
    return any(x["event"] == event for x in logs)


def test_the_socket_timeout_outlasts_every_blocking_read_under_latency() -> None:
    # A blocking read holds its connection for BLOCK_MS plus a round trip; twice the
    # injected latency each way still leaves the socket timeout far away.
    assert BLOCK_MS / 1000 + 2 * 2 * LATENCY_S < SOCKET_TIMEOUT_S / 2


async def test_a_blocking_read_through_2s_latency_answers(
    proxy: FaultProxy, durable: EmbeddedRedis, keys: Keys
) -> None:
    direct, slow = client(durable.url), client(proxy.url)
    try:
        await ensure_group(direct, keys.triggers, "g")
        await slow.ping()
        proxy.latency_s = LATENCY_S
        started = time.monotonic()
        # The request and the reply each arrive LATENCY_S late; the read blocks in between.
        assert await read_group(slow, [keys.triggers], "g", "c") == []
        assert time.monotonic() - started >= 2 * LATENCY_S  # the latency was really there
        await direct.xadd(keys.triggers, {"n": "1"})
        proxy.latency_s = 0.0
        [entry] = await read_group(slow, [keys.triggers], "g", "c")
        assert entry.fields[b"n"] == b"1"
    finally:
        await direct.aclose()
        await slow.aclose()


async def test_a_half_open_redis_is_retried_until_it_heals(
    proxy: FaultProxy, durable: EmbeddedRedis, keys: Keys
) -> None:
    direct = client(durable.url)
    hanging = client(proxy.url, socket_timeout=1.0)
    await ensure_group(direct, keys.triggers, "g")
    seen: list[str] = []

    async def step() -> None:
        for entry in await read_group(hanging, [keys.triggers], "g", "c", block_ms=200):
            seen.append(entry.entry_id)
            await hanging.xack(keys.triggers, "g", entry.entry_id)

    async def consumed(entry: dict[str, str]) -> None:
        entry_id = (await direct.xadd(keys.triggers, entry)).decode()  # type: ignore[arg-type]
        await wait_for(lambda: holds(entry_id in seen), 20, f"{entry} consumed")

    stop = asyncio.Event()
    with structlog.testing.capture_logs() as logs:
        loop = asyncio.create_task(repeat_until(stop, step, name="reader"))
        try:
            await consumed({"n": "before"})
            proxy.half_open = True  # the peer stops answering mid-conversation
            await wait_for(lambda: holds(_logged(logs, "service.redis_unavailable")), 20,
                           "the hang detected")  # fmt: skip
            assert not loop.done()  # the reader hung for a bounded time, then retried
            proxy.heal()
            await consumed({"n": "after"})
        finally:
            stop.set()
            await loop
            await direct.aclose()
            await hanging.aclose()
    waits = [x["retry_in_s"] for x in logs if x["event"] == "service.redis_unavailable"]
    assert waits and max(waits) <= RETRY_CAP_S


async def test_a_scheduled_slot_whose_emission_reply_is_cut_fires_once(
    proxy: FaultProxy, durable: EmbeddedRedis, keys: Keys
) -> None:
    direct, through = client(durable.url), client(proxy.url)
    clock = FakeClock(T0)
    try:
        tick = {"schedule": {"every": "1m"}, "overlap": "allow"}
        built = await make(direct, keys, clock, {"tick": tick})
        scheduler = Scheduler(through, built.config, clock=clock)
        await scheduler.start()
        await scheduler.run_once()  # leads, loads, gives "tick" its first slot
        await _preload(direct, "schedule_emit")
        proxy.cut_reply_to(_sha("schedule_emit"))
        clock.advance(60)
        await scheduler.run_once()
        assert proxy.cuts == 1  # the reply was cut after Redis ran the script
        [due] = await dues(direct, keys)
        assert due.run_id == f"tick:{int((T0 + 60) * 1000)}"
        clock.advance(60)
        await scheduler.run_once()  # the schedule moved on once, not twice
        assert [d.scheduled_for for d in await dues(direct, keys)] == [T0 + 60, T0 + 120]
    finally:
        await direct.aclose()
        await through.aclose()


async def test_a_trigger_whose_emission_reply_is_cut_runs_once(
    proxy: FaultProxy, durable: EmbeddedRedis, keys: Keys
) -> None:
    direct, through = client(durable.url), client(proxy.url)
    clock = FakeClock(T0)
    try:
        built = await make(direct, keys, clock, {"quick": {}})
        scheduler = Scheduler(through, built.config, clock=clock)
        await scheduler.start()
        await scheduler.run_once()
        await _preload(direct, "schedule_emit")
        body = encode_trigger("quick")
        entry_id = (await direct.xadd(keys.triggers, body)).decode()
        proxy.cut_reply_to(_sha("schedule_emit"))
        await scheduler.run_once()
        assert proxy.cuts == 1
        assert [d.run_id for d in await dues(direct, keys)] == [f"quick:m{entry_id}"]
        pending: Any = await direct.xpending(keys.triggers, "scheduler")
        assert pending["pending"] == 0
    finally:
        await direct.aclose()
        await through.aclose()


async def test_a_result_whose_publication_reply_is_cut_is_published_once(
    proxy: FaultProxy, durable: EmbeddedRedis, keys: Keys
) -> None:
    direct, through = client(durable.url), client(proxy.url)
    try:
        due = make_due()
        await ensure_group(direct, keys.due("normal"), EXECUTORS_GROUP)
        await direct.xadd(keys.due("normal"), encode(due))  # type: ignore[arg-type]
        [entry] = await read_group(direct, [keys.due("normal")], EXECUTORS_GROUP, "x1")
        await _preload(direct, "run_publish")
        proxy.cut_reply_to(_sha("run_publish"))
        await Publisher(through, keys, "x1").publish(entry, result_of(due, "succeeded", T0))
        assert proxy.cuts == 1
        assert await direct.xlen(keys.results) == 1
        pending: Any = await direct.xpending(keys.due("normal"), EXECUTORS_GROUP)
        assert pending["pending"] == 0
    finally:
        await direct.aclose()
        await through.aclose()


def encode_trigger(task: str) -> dict[str, Any]:
    """A ``trigger.run`` entry as a trading stack would XADD it."""
    return dict(encode(TriggerRun(task=task, requested_by="test")))
