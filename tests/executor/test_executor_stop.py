"""The executor stops within its bounds even when a cancel is lost on the way."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from services.executor import service as executor_service
from services.executor.service import Executor
from shared.contract.keys import Keys
from shared.runtime.redis import Redis
from tests.executor.executor_support import (
    make_config,
    make_due,
    publish_due,
    started,
    wait_for,
    wait_results,
)


async def test_stops_when_a_beat_absorbs_the_liveness_cancel(
    r: Redis, keys: Keys, tmp_path: Path
) -> None:
    """redis-py at times absorbed a cancel that arrived during the heartbeat's round trips
    (the beat returned normally); the liveness loop must still end at stop."""
    executor = Executor(r, make_config(keys, tmp_path, grace_period=0.1))
    real_beat = executor.heartbeat.beat
    beating, absorbed = asyncio.Event(), asyncio.Event()

    async def absorbing_beat(inflight: Mapping[str, str]) -> list[str]:
        beating.set()
        if absorbed.is_set():
            return await real_beat(inflight)
        try:
            await asyncio.sleep(1.0)  # the beat's round trips, slow: the stop's cancel lands here
        except asyncio.CancelledError:
            absorbed.set()  # ... and is absorbed once, as the library did
        return await real_beat(inflight)

    executor.heartbeat.beat = absorbing_beat  # type: ignore[method-assign]
    stop = asyncio.Event()
    serving = asyncio.create_task(executor.run(stop))
    due = make_due(params={"seconds": 60.0})
    await publish_due(r, keys, due)
    await started(r, keys, due.run_id)
    beating.clear()
    await asyncio.wait_for(beating.wait(), 5)
    stop.set()  # drains (0.1 s grace), then cancels the liveness loop mid-beat
    await asyncio.wait_for(serving, 5)
    assert absorbed.is_set()


async def test_stop_ends_the_idle_wait_at_once(
    r: Redis, keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An idle intake blocks with its take queued behind the wait; a stop unblocks it
    (the block here is a minute: without the unblock the stop would wait that long)."""
    monkeypatch.setattr(executor_service, "IDLE_BLOCK_MS", 60_000)
    executor = Executor(r, make_config(keys, tmp_path, grace_period=0.1))
    stop = asyncio.Event()
    serving = asyncio.create_task(executor.run(stop))
    due = make_due(params={"seconds": 0.0})
    await publish_due(r, keys, due)
    await wait_results(r, keys, 1)  # it ran; the intake is idle, waiting again

    async def waiting() -> bool:
        return executor.intake._waiting is not None

    await wait_for(waiting, 5, "the intake to wait")
    stop.set()
    await asyncio.wait_for(serving, 10)
    pool: Any = r.connection_pool
    assert pool._in_use_connections == set()
