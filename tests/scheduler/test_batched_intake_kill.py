"""Batched trigger intake survives a scheduler killed in the middle of a batch.

2,000 triggers are written at once; the leader (a real ``watchkeeper scheduler``
process) reads them 500 at a time and emits each batch in one fenced script call. It is
frozen as soon as it has emitted something, and killed only if it holds a batch it has
read but not acked (otherwise it is let go on for a moment and frozen again): a kill in
the middle of a batch. A second replica takes over, re-reads what the first left
pending, and an executor runs everything: every trigger ends with exactly one result.
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.executor.service import Executor
from shared.config.loader import load_config
from shared.contract.codec import decode, encode
from shared.contract.events import TaskDue, TaskResult, TriggerRun
from shared.contract.keys import EXECUTORS_GROUP, SCHEDULER_GROUP, Keys
from shared.runtime.redis import Redis
from tests.executor.executor_support import wait_for
from tests.support.processes import cli_env, kill_all, spawn

pytestmark = pytest.mark.slow

TRIGGERS = 2_000
START_S = 30.0


def _config(path: Path, ns: str) -> Path:
    config = {
        "namespace": ns,
        "scheduler": {"lease_ttl": "2s"},
        "executor": {"plugins": ["tests.executor.wk_handlers"], "max_concurrent": 64},
        "tasks": {"burst": {"handler": "t_sleep", "max_instances": 10_000, "overlap": "allow"}},
    }
    file = path / "watchkeeper.yml"
    file.write_text(yaml.safe_dump(config))
    return file


async def _pending(r: Redis, keys: Keys) -> int:
    summary: Any = await r.xpending(keys.triggers, SCHEDULER_GROUP)
    return int(summary["pending"])


async def _kill_mid_batch(r: Redis, keys: Keys, proc: Any) -> tuple[int, int]:
    """Freeze the leader once it emitted; kill it while it holds an unacked batch.
    Returns (due entries, pending triggers) at the kill."""
    for _ in range(200):
        await wait_for(lambda: r.xlen(keys.due("normal")), START_S, "a first emission", 0.001)
        proc.send_signal(signal.SIGSTOP)
        emitted, pending = await r.xlen(keys.due("normal")), await _pending(r, keys)
        if pending and emitted < TRIGGERS:
            proc.kill()
            proc.wait(10)
            return emitted, pending
        proc.send_signal(signal.SIGCONT)  # between two batches: try again a little later
        await asyncio.sleep(0.002)
    raise AssertionError("never caught the leader in the middle of a batch")


async def test_a_scheduler_killed_mid_batch_leaves_exactly_one_result_per_trigger(
    r: Redis, keys: Keys, redis_url: str, tmp_path: Path
) -> None:
    config_file = _config(tmp_path, keys.ns)
    env = cli_env(redis_url)
    first = spawn("scheduler", config_file, env=env)
    procs = [first]
    try:
        await wait_for(lambda: r.exists(keys.scheduler_leader), START_S, "a leader")
        await wait_for(lambda: r.xinfo_groups(keys.triggers), START_S, "the trigger group")
        async with r.pipeline(transaction=False) as pipe:
            for _ in range(TRIGGERS):
                pipe.xadd(keys.triggers, encode(TriggerRun(task="burst")))  # type: ignore[arg-type]
            await pipe.execute()
        emitted, pending = await _kill_mid_batch(r, keys, first)
        procs.append(spawn("scheduler", config_file, env=env))
        config = load_config(config_file).config
        executor = Executor(r, config)
        stop = asyncio.Event()
        running = asyncio.create_task(executor.run(stop))
        try:
            await wait_for(lambda: _all_done(r, keys), 120, "every run finished")
        finally:
            stop.set()
            await running
    finally:
        kill_all(procs)
    assert 0 < emitted < TRIGGERS and pending > 0  # the kill fell in the middle of a batch
    triggers = [eid.decode() for eid, _ in await r.xrange(keys.triggers)]
    dues = [decode(f) for _, f in await r.xrange(keys.due("normal"))]
    results = [decode(f) for _, f in await r.xrange(keys.results)]
    assert all(isinstance(d, TaskDue) for d in dues)
    assert all(isinstance(x, TaskResult) for x in results)
    assert await r.xlen(keys.dead) == 0
    expected = {f"burst:m{t}" for t in triggers}
    assert Counter(d.run_id for d in dues if isinstance(d, TaskDue)) == Counter(expected)
    per_run = Counter(x.run_id for x in results if isinstance(x, TaskResult))
    assert per_run == Counter(expected)  # exactly one result per trigger
    assert {x.status for x in results if isinstance(x, TaskResult)} == {"succeeded"}


async def _all_done(r: Redis, keys: Keys) -> bool:
    """Every trigger read and acked by the scheduler, every due entry by the executors."""
    groups: Any = await r.xinfo_groups(keys.due("normal"))
    executors = next((g for g in groups if g["name"] == EXECUTORS_GROUP.encode()), None)
    return bool(
        await _pending(r, keys) == 0
        and await r.xlen(keys.due("normal")) >= TRIGGERS
        and executors is not None
        and executors["pending"] == 0
        and executors["lag"] == 0
        and await r.xlen(keys.results) >= TRIGGERS
    )
