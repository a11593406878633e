"""Hops of the trigger → handler path, each service alone (less noise than the pipeline).

Run: ``.venv/bin/python bench/hops.py [--against DIR] [--repeat K] [--only scheduler|executor]``

One service process (from this tree and from ``--against``'s, one after the other in
each round) on a fresh private server per scenario:
- **scheduler, paced**: ``--paced`` triggers 5 ms apart (200/s); trigger XADD → its
  ``task.due`` seen by a reader blocked on the due stream (what an idle executor's XREAD
  sees), and the scheduler's CPU per trigger;
- **scheduler, emergency during a drain**: ``--backlog`` triggers and as many results
  queued at once, an emergency every 10 ms while they drain; emergency XADD → its run
  emitted (the due's ``scheduled_for``, stamped when the leader admits it), and the
  scheduler's CPU per queued entry;
- **executor, paced**: ``--paced`` no-op ``task.due`` entries 5 ms apart on the normal
  stream (an idle executor); due XADD → handler start, and the executor's CPU per run;
- **executor, critical during a drain**: ``--backlog`` no-op ``task.due`` entries queued
  on the normal stream, a critical one XADDed every 10 ms while they drain; due XADD →
  handler start, and the executor's CPU per run. With ``--normal-ms`` the normal runs
  sleep that long (each holds its slot; a ``--against`` tree needs this tree's
  ``bench/support/noop.py``, which honours ``sleep_ms``).
The whole pipeline (all services together) is ``bench/pipeline.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from pipeline import ROOT, Processes, Server, pct, pipelined, wk_config

from services.scheduler.occurrence import make_due
from shared.config.models import TaskConfig
from shared.contract.codec import decode, encode
from shared.contract.events import TaskDue, TaskResult, TriggerEmergency, TriggerRun
from shared.contract.keys import Keys
from shared.runtime.redis import Redis, client

START_S = 60.0


def spread(values: list[float]) -> str:
    top = max(values, default=float("nan"))
    return (f"p50 {pct(values, 0.5):6.2f}  p90 {pct(values, 0.9):6.2f}  "
            f"p99 {pct(values, 0.99):6.2f}  max {top:6.2f} ms")  # fmt: skip


async def ready(r: Redis, keys: Keys, procs: Processes, service: str) -> None:
    """Wait for the scheduler to lead (the executor to beat), then a little more."""
    pattern = keys.scheduler_leader if service == "scheduler" else keys.executor("*")
    async with asyncio.timeout(START_S):
        while not [k async for k in r.scan_iter(match=pattern)]:
            procs.check()
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)


async def paced(r: Redis, url: str, keys: Keys, n: int, pid: int) -> str:
    reader, fields = client(url), encode(TriggerRun(task="noop"))
    last: Any = b"0-0"
    latencies: list[float] = []
    cpu0, start = psutil.Process(pid).cpu_times(), time.monotonic()
    try:
        for i in range(n):
            await asyncio.sleep(max(0.0, start + i * 0.005 - time.monotonic()))
            seen = asyncio.ensure_future(reader.xread({keys.due("normal"): last}, count=1,
                                                      block=10_000))  # fmt: skip
            t0 = time.perf_counter()
            await r.xadd(keys.triggers, fields)  # type: ignore[arg-type]
            reply: Any = await seen
            latencies.append((time.perf_counter() - t0) * 1000)
            last = reply[0][1][-1][0]
    finally:
        await reader.aclose()
    cpu1 = psutil.Process(pid).cpu_times()
    cpu_us = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / n * 1e6
    return (
        f"paced 200/s, trigger → due seen:      {spread(latencies)}  CPU {cpu_us:5.0f} µs/trigger"
    )


async def drain(r: Redis, keys: Keys, n: int, pid: int) -> str:
    result = TaskResult(run_id="noop:x", task="noop", handler="bench_noop", attempt=1,
                        trigger="manual", scheduled_for=1.0, status="succeeded", started_at=1.0,
                        finished_at=1.0, duration_s=0.0, executor="bench")  # fmt: skip
    cpu0 = psutil.Process(pid).cpu_times()
    await pipelined(r, keys.results, [encode(result)] * n)
    await pipelined(r, keys.triggers, [encode(TriggerRun(task="noop"))] * n)
    sent: dict[str, float] = {}
    urgent = encode(TriggerEmergency(task="urgent"))
    while await r.xlen(keys.due("normal")) < n:
        at = time.time()
        sent[(await r.xadd(keys.emergency, urgent)).decode()] = at  # type: ignore[arg-type,union-attr]
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    cpu1 = psutil.Process(pid).cpu_times()
    cpu_us = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / (2 * n) * 1e6
    latencies = []
    emitted: Any = await r.xrange(keys.due("critical"))
    for _, fields in emitted:
        due = decode(fields)
        assert isinstance(due, TaskDue)
        latencies.append((due.scheduled_for - sent[due.run_id.rsplit(":e", 1)[1]]) * 1000)
    return (
        f"emergency while {n:,}+{n:,} drain → emitted: {spread(latencies)}  "
        f"CPU {cpu_us:5.0f} µs/entry"
    )


def noop_due(name: str, slot: str, priority: str | None = None, sleep_ms: float = 0.0) -> Any:
    """A no-op ``task.due`` entry (sleeping ``sleep_ms`` when given), scheduled now."""
    task = TaskConfig(handler="bench_noop", overlap="allow", max_instances=1_000_000)
    if sleep_ms:
        task = task.model_copy(update={"params": {"sleep_ms": sleep_ms}})
    at = time.time()
    return encode(make_due(name, task, slot=slot, trigger="manual", scheduled_for=at,
                           emitted_at=at, priority=priority))  # fmt: skip


async def started_ms(r: Redis, keys: Keys, task: str) -> list[float]:
    """Due XADD (its ``scheduled_for``) → handler start of each result of ``task``."""
    latencies = []
    results: Any = await r.xrange(keys.results)
    for _, fields in results:
        result = decode(fields)
        if isinstance(result, TaskResult) and result.task == task:
            latencies.append((float(result.metrics["started"]) - result.scheduled_for) * 1000)
    return latencies


async def executor_paced(r: Redis, keys: Keys, n: int, pid: int) -> str:
    """``n`` no-op dues 5 ms apart on the normal stream (an idle executor)."""
    cpu0, start = psutil.Process(pid).cpu_times(), time.monotonic()
    for i in range(n):
        await asyncio.sleep(max(0.0, start + i * 0.005 - time.monotonic()))
        await r.xadd(keys.due("normal"), noop_due("noop", f"p{i}"))
    while await r.xlen(keys.results) < n:  # noqa: ASYNC110 (another process's state)
        await asyncio.sleep(0.01)
    cpu1 = psutil.Process(pid).cpu_times()
    cpu_us = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / n * 1e6
    latencies = await started_ms(r, keys, "noop")
    return f"paced 200/s, due → handler:            {spread(latencies)}  CPU {cpu_us:5.0f} µs/run"


async def executor_drain(r: Redis, keys: Keys, n: int, pid: int, normal_ms: float) -> str:
    task = TaskConfig(handler="bench_noop", overlap="allow", max_instances=1_000_000)
    slow = task.model_copy(update={"params": {"sleep_ms": normal_ms}} if normal_ms else {})

    def due(name: str, slot: str, priority: str | None = None) -> dict[str, Any]:
        at = time.time()
        return encode(make_due(name, task if priority else slow, slot=slot, trigger="manual",
                               scheduled_for=at, emitted_at=at, priority=priority))  # fmt: skip

    cpu0 = psutil.Process(pid).cpu_times()
    await pipelined(r, keys.due("normal"), [due("noop", f"n{i}") for i in range(n)])
    urgent = 0
    while await r.xlen(keys.results) < n + urgent:
        await r.xadd(keys.due("critical"), due("urgent", f"u{urgent}", "critical"))  # type: ignore[arg-type]
        urgent += 1
        await asyncio.sleep(0.01)
    cpu1 = psutil.Process(pid).cpu_times()
    cpu_us = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / (n + urgent) * 1e6
    latencies = []
    results: Any = await r.xrange(keys.results)
    for _, fields in results:
        result = decode(fields)
        if isinstance(result, TaskResult) and result.task == "urgent":
            latencies.append((float(result.metrics["started"]) - result.scheduled_for) * 1000)
    runs = f"{n:,} {normal_ms:g} ms runs" if normal_ms else f"{n:,}"
    return f"critical while {runs} drain → handler:  {spread(latencies)}  CPU {cpu_us:5.0f} µs/run"


PHASES = {"scheduler": ("paced", "drain"), "executor": ("executor_paced", "executor_drain")}


async def scenario(tmp: Path, name: str, tree: Path, args: Any) -> list[str]:
    config, keys = wk_config(tmp), Keys("bench")
    lines = []
    for service in args.only or PHASES:
        for phase in PHASES[service]:
            procs = Processes(tmp / f"{name}-{phase}-logs")
            async with Server(tmp / f"{name}-{phase}") as r:
                url = f"redis://127.0.0.1:{r.connection_pool.connection_kwargs['port']}"
                procs.spawn(service, [sys.executable, "-m", "services.cli.main", service,
                                      "-c", str(config)], {"REDIS_URL": url}, tree)  # fmt: skip
                try:
                    await ready(r, keys, procs, service)
                    lines.append(
                        await run_phase(phase, r, url, keys, args, procs.procs[service].pid)
                    )
                except (RuntimeError, TimeoutError):
                    print(procs.tails())
                    raise
                finally:
                    procs.stop()
    return [f"{name}: {line}" for line in lines]


async def run_phase(phase: str, r: Redis, url: str, keys: Keys, args: Any, pid: int) -> str:
    if phase == "paced":
        return await paced(r, url, keys, args.paced, pid)
    if phase == "drain":
        return await drain(r, keys, args.backlog, pid)
    if phase == "executor_paced":
        return await executor_paced(r, keys, args.paced, pid)
    return await executor_drain(r, keys, args.backlog, pid, args.normal_ms)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paced", type=int, default=1_000, help="triggers at 200/s")
    parser.add_argument("--backlog", type=int, default=10_000, help="triggers (and results)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds (figures are noisy)")
    parser.add_argument("--only", choices=list(PHASES), action="append")
    parser.add_argument("--normal-ms", type=float, default=0.0,
                        help="executor scenario: each normal run sleeps this long")  # fmt: skip
    parser.add_argument("--against", metavar="DIR",
                        help="also run the services from this tree (the order alternates "
                             "from round to round)")  # fmt: skip
    args = parser.parse_args()
    trees = ([("before", Path(args.against))] if args.against else []) + [("after", ROOT)]
    for round_ in range(1, args.repeat + 1):
        print(f"-- round {round_} (load average {os.getloadavg()[0]:.1f})", flush=True)
        with tempfile.TemporaryDirectory() as tmp_name:
            # Before, then after; the other way round in even rounds (the tree run second
            # tends to be the slower on a shared host).
            for name, tree in trees if round_ % 2 else trees[::-1]:
                print("\n".join(await scenario(Path(tmp_name), name, tree, args)), flush=True)
    print(f"(host: {os.cpu_count()} cores, load average now {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    asyncio.run(main())
