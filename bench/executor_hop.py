"""Executor hop throughput: no-op runs from task.due to task.result.

Run: ``.venv/bin/python bench/executor_hop.py [--runs N] [--slots K]``

Both sides process the same N pre-filled due entries on a private embedded server:
- baseline: a bare redis-py loop (XREADGROUP COUNT K, then one pipeline of XADD+XACK
  per batch) — the least work any consumer-group worker can do per entry;
- executor: the real Executor (max_concurrent K): decode, count the attempt, run a
  no-op handler, fenced result+ack (group-committed), heartbeat and reclaim loops on.
Printed: entries/s of each and the executor/baseline ratio, from the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from services.executor.handlers import registry
from services.executor.handlers.base import Outcome, RunContext
from services.executor.handlers.registry import HandlerSpec
from services.executor.service import Executor
from shared.config.models import Config, ExecutorSettings
from shared.contract.codec import encode
from shared.contract.events import TaskDue, TaskResult
from shared.contract.keys import EXECUTORS_GROUP, Keys
from shared.runtime.embedded import EmbeddedRedis
from shared.runtime.logging import configure_logging
from shared.runtime.redis import Redis, client, ensure_group


async def noop(ctx: RunContext, params: Any) -> Outcome:
    """The benchmark handler: nothing at all."""
    return Outcome(message="noop")


def due(i: int) -> TaskDue:
    return TaskDue(run_id=f"bench-{i}", task="noop", handler="bench_noop", params={},
                   trigger="manual", scheduled_for=0.0, emitted_at=0.0, attempt=1,
                   max_attempts=1, timeout_s=30.0, priority="normal")  # fmt: skip


async def fill(r: Redis, stream: str, n: int) -> None:
    await ensure_group(r, stream, EXECUTORS_GROUP)
    for start in range(0, n, 1000):
        async with r.pipeline(transaction=False) as pipe:
            for i in range(start, min(n, start + 1000)):
                pipe.xadd(stream, encode(due(i)))  # type: ignore[arg-type]
            await pipe.execute()


async def baseline(r: Redis, n: int, batch: int) -> float:
    """Seconds for the bare loop to move ``n`` entries from due to results."""
    stream, results = "bare:due", "bare:results"
    await fill(r, stream, n)
    result = encode(TaskResult(
        run_id="bench-0", task="noop", handler="bench_noop", attempt=1, trigger="manual",
        scheduled_for=0.0, status="succeeded", started_at=0.0, finished_at=0.0,
        duration_s=0.0, executor="bare",
    ))  # fmt: skip
    done, started = 0, time.perf_counter()
    while done < n:
        reply: Any = await r.xreadgroup(EXECUTORS_GROUP, "bare", {stream: ">"}, count=batch,
                                        block=1000)  # fmt: skip
        async with r.pipeline(transaction=False) as pipe:
            for _, entries in reply:
                for entry_id, _fields in entries:
                    pipe.xadd(results, result)  # type: ignore[arg-type]
                    pipe.xack(stream, EXECUTORS_GROUP, entry_id)
                    done += 1
            await pipe.execute()
    return time.perf_counter() - started


async def executor_hop(r: Redis, n: int, slots: int) -> float:
    """Seconds for a real Executor to turn ``n`` due entries into results."""
    registry.register(HandlerSpec("bench_noop", noop))
    config = Config(namespace="bench", executor=ExecutorSettings(max_concurrent=slots))
    keys = Keys("bench")
    await fill(r, keys.due("normal"), n)
    executor, stop = Executor(r, config), asyncio.Event()
    started = time.perf_counter()
    serving = asyncio.create_task(executor.run(stop))
    while await r.xlen(keys.results) < n:  # noqa: ASYNC110  (polling Redis, no event)
        await asyncio.sleep(0.002)
    elapsed = time.perf_counter() - started
    stop.set()
    await serving
    return elapsed


async def main(n: int, slots: int) -> None:
    configure_logging(level="WARNING", json=True)
    with tempfile.TemporaryDirectory() as tmp:
        async with EmbeddedRedis(Path(tmp), port=None, appendonly=False) as server:
            r = client(server.url)
            try:
                await baseline(r, min(n, 1000), slots)  # warm-up (connections, allocator)
                bare_s = await baseline(r, n, slots)
                hop_s = await executor_hop(r, n, slots)
            finally:
                await r.aclose()
    bare, hop = n / bare_s, n / hop_s
    print(f"executor hop, {n} no-op runs, batch/slots {slots}")
    print(f"  bare XREADGROUP/XADD/XACK loop: {bare:10,.0f} entries/s ({bare_s:.2f} s)")
    print(f"  watchkeeper executor:           {hop:10,.0f} runs/s    ({hop_s:.2f} s)")
    print(f"  ratio executor/bare:            {hop / bare:10.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--slots", type=int, default=64)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.slots))
