"""Scheduler benchmark: fire lateness, a 10,000-schedule burst, per-fire cost vs schedule count
and at thousands of fires per second.

Run: ``.venv/bin/python bench/scheduler_lateness.py`` (starts its own Redis server; runs
on uvloop, as the services do).

Lateness is measured two ways from a fire's due time (slot + jitter):
- ``call``: until the script call that XADDed its ``task.due`` returned to the scheduler,
  an upper bound on when the entry is in the stream (microsecond resolution);
- ``id``: the stream entry id's millisecond (Redis' clock when it was added), floored
  to whole milliseconds; it also shows that nothing was ever added before its slot.
Measuring starts :data:`WARMUP_S` after the leader has drained the control events
``apply`` wrote, so no run pays for its own or another's setup. CPU is the scheduler
process (user + sys) and the Redis server (from INFO), per fire. The baseline is a
bare ``asyncio.sleep`` to the next boundary, measured in the same run on the same machine.
"""

from __future__ import annotations

import asyncio
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.cli.runtime import serve
from services.scheduler.emitter import Emission, Emitter, Move, Packed
from services.scheduler.kit import Fired
from services.scheduler.service import Scheduler
from shared.config import taskdefs
from shared.config.models import Config, TaskConfig
from shared.contract.codec import decode
from shared.contract.decisions import Decision
from shared.contract.emission import EmitCode
from shared.contract.events import TaskDue
from shared.contract.keys import SCHEDULER_GROUP, Keys
from shared.runtime.embedded import EmbeddedRedis
from shared.runtime.lane import Lane
from shared.runtime.logging import configure_logging
from shared.runtime.redis import Redis, client

WARMUP_S = 2.0
"""Measuring starts this long after the backlog is drained: the slots that fell due
while the leader loaded its definitions (a one-off after each takeover) are not
steady-state lateness."""


STEADY_S = 62.0
"""The steady-state figures of (a) are measured this long after the backlog is drained:
each of its schedules (every 1-60 s) has then fired once and has its kit built."""
FLOOR_GAP_S = 0.0013
"""The mean time between two fires in (a), where the per-fire floor is measured."""
SPARSE_GAP_S = 0.0128
"""The mean time between two fires in (c) (1,000 schedules every 1-60 s: 78 fires/s)."""


class Recorder:
    """Wraps the emitter to note (due time, call returned) per emitted item."""

    def __init__(self, emitter: Emitter) -> None:
        self.samples: list[tuple[float, float]] = []
        # By the blob's identity: the timer may send a copy of a packed call (lookahead).
        self._due: dict[int, tuple[Packed, list[float]]] = {}
        self._pack, self._send = emitter.pack, emitter.send
        emitter.pack = self.pack  # type: ignore[method-assign]
        emitter.send = self.send  # type: ignore[method-assign]

    def pack(self, items: Sequence[Emission | Fired], moves: Sequence[Move] = (),
             decisions: Sequence[tuple[str, Decision]] = ()) -> list[Packed]:  # fmt: skip
        calls = self._pack(items, moves, decisions)
        start = 0
        for call in calls:
            self._due[id(call.blob)] = (
                call,
                [i.scheduled_for for i in items[start:][: call.items]],
            )
            start += call.items
        return calls

    async def send(self, token: str, now_ms: int, call: Packed) -> list[EmitCode]:
        codes = await self._send(token, now_ms, call)
        done = time.time()
        _, dues = self._due.pop(id(call.blob), (call, []))
        self.samples += [(due, done) for due, c in zip(dues, codes, strict=True) if c == 1]
        return codes


@dataclass
class Run:
    """What one measured scheduler run produced."""

    call_ms: list[float]
    id_ms: list[float]
    cpu_s: float
    redis_cpu_s: float
    seconds: float

    def per_fire_us(self) -> str:
        n = max(1, len(self.call_ms))
        return (f"{self.cpu_s / n * 1e6:.0f} µs scheduler CPU + "
                f"{self.redis_cpu_s / n * 1e6:.0f} µs Redis CPU per fire")  # fmt: skip


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def spread(label: str, values: list[float]) -> str:
    return (f"{label} p50 {pct(values, 0.5):.2f} ms  p99 {pct(values, 0.99):.2f} ms  "
            f"max {max(values, default=float('nan')):.2f} ms")  # fmt: skip


async def baseline(samples: int = 100, step_s: float = 0.1) -> tuple[list[float], float]:
    """Lateness (ms) of a bare asyncio.sleep to the next ``step_s`` boundary, and the CPU
    (µs) each of those wake-ups cost: the floor under any per-fire figure when fires
    are far apart (each needs at least one wake-up and one round trip)."""
    late = []
    cpu0 = own_cpu()
    for _ in range(samples):
        now = time.time()
        target = (int(now / step_s) + 1) * step_s
        await asyncio.sleep(target - now)
        late.append((time.time() - target) * 1000)
    return late, (own_cpu() - cpu0) / samples * 1e6


async def floor(
    r: Redis, calls: int = 1500, gap_s: float = FLOOR_GAP_S
) -> tuple[float, float, float]:
    """CPU (µs) of the least any fire costs this process when fires are ``gap_s`` apart
    (:data:`FLOOR_GAP_S`: (a)'s pace): a wake-up after ``gap_s`` and one call of a no-op
    script, on redis-py's single-connection client and on the scheduler's lane; and
    Redis' CPU per such call. The sparser the fires, the colder each wake-up."""
    digest = await r.script_load("return 1")
    plain = r.client()
    lane = Lane(r.client())
    costs = []
    for target in (plain, lane):
        await target.evalsha(digest, 0)  # connect
        cpu0, redis0 = own_cpu(), await redis_cpu(r)
        for _ in range(calls):
            await asyncio.sleep(gap_s)
            await target.evalsha(digest, 0)
        costs += [(own_cpu() - cpu0) / calls * 1e6, (await redis_cpu(r) - redis0) / calls * 1e6]
    await plain.aclose()
    await lane.aclose()
    return costs[0], costs[2], costs[3]


def task(every_s: int, anchor: datetime | None) -> TaskConfig:
    spec: dict[str, Any] = {"every": f"{every_s}s"}
    if anchor is not None:
        spec["anchor"] = anchor.isoformat()
    return TaskConfig(handler="command", params={"argv": ["true"]}, schedule=[spec],
                      overlap="allow", catch_up="all")  # fmt: skip


def spread_tasks(n: int, rng: random.Random, prefix: str = "t") -> dict[str, TaskConfig]:
    """``n`` schedules every 1-60 s with random millisecond phases."""
    base = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    return {
        f"{prefix}{i}": task(rng.randint(1, 60),
                             datetime.fromtimestamp(base + rng.randint(0, 59_999) / 1000, UTC))
        for i in range(n)
    }  # fmt: skip


async def drained(r: Redis, keys: Keys) -> None:
    """Wait until the scheduler group has read and acked every control event."""
    while True:
        groups: Any = await r.xinfo_groups(keys.control)
        group = next(g for g in groups if g["name"] == SCHEDULER_GROUP.encode())
        if group["pending"] == 0 and group.get("lag") == 0:
            return
        await asyncio.sleep(0.05)


async def redis_cpu(r: Redis) -> float:
    info: Any = await r.info("cpu")
    return float(info["used_cpu_user"] + info["used_cpu_sys"])


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def id_lateness(r: Redis, keys: Keys, since: float) -> list[float]:
    """Entry id ms minus due ms of every task.due added after ``since``."""
    entries: Any = await r.xrange(keys.due("normal"), min=f"{int(since * 1000)}-0")
    late = []
    for entry_id, fields in entries:
        due = decode(fields)
        assert isinstance(due, TaskDue)
        late.append(int(entry_id.split(b"-")[0]) - due.scheduled_for * 1000)
    return late


async def run_scheduler(
    r: Redis, config: Config, until: float, warmup_s: float = WARMUP_S
) -> tuple[Run, Recorder]:
    """Apply ``config``, lead with one scheduler, measure from ``warmup_s`` after the
    drained backlog to ``until`` (epoch seconds, or seconds from then when below 1e9)."""
    keys = Keys(config.namespace)
    await taskdefs.apply(r, keys, config)
    scheduler = Scheduler(r, config)
    recorder = Recorder(scheduler.rt.emitter)
    stop = asyncio.Event()
    runner = asyncio.create_task(scheduler.run(stop))
    await scheduler.leading.wait()
    await drained(r, keys)
    await asyncio.sleep(warmup_s)
    start, cpu0, redis0 = time.time(), own_cpu(), await redis_cpu(r)
    recorder.samples.clear()
    await asyncio.sleep((until if until > 1e9 else start + until) - time.time())
    cpu, redis = own_cpu() - cpu0, await redis_cpu(r) - redis0
    stop.set()
    await runner
    calls = [(done - due) * 1000 for due, done in recorder.samples]
    ids = await id_lateness(r, keys, start)
    return Run(calls, ids, cpu, redis, time.time() - start), recorder


async def bench_lateness(r: Redis, rng: random.Random) -> None:
    tasks = spread_tasks(10_000, rng)
    run, _ = await run_scheduler(r, Config(namespace="bench_a", tasks=tasks), 20)
    early = sum(1 for late in run.id_ms if late < 0)
    print(f"(a) lateness, 10,000 schedules every 1-60 s, {len(run.call_ms)} fires in 20 s:")
    print("    " + spread("call", run.call_ms))
    print("    " + spread("id  ", run.id_ms) + f"  (added before their slot: {early})")
    print(f"    {run.per_fire_us()}")
    print("    (most schedules fire for the first time in this scheduler here: it builds")
    print("    their fire kits, parsing each definition once)")
    steady, _ = await run_scheduler(r, Config(namespace="bench_a2", tasks=tasks), 20, STEADY_S)
    print(f"    steady state, measured after {STEADY_S:.0f} s (every schedule has fired once), "
          f"{len(steady.call_ms)} fires:")  # fmt: skip
    print("      " + spread("call", steady.call_ms))
    print(f"      {steady.per_fire_us()}")
    print(f"      {await markers_left(r, Keys('bench_a2'))}")


async def markers_left(r: Redis, keys: Keys) -> str:
    """How many keys the fires left that outlive their runs (fired markers, kept 7 days),
    against the fires so far (the decisions say how many)."""
    fires = sum(int(v) for k, v in (await r.hgetall(keys.decision_tally)).items()
                if k.startswith(b"fired|"))  # fmt: skip
    found = [k async for k in r.scan_iter(match=keys.fired("*", "*"), count=10_000)]
    each = await r.memory_usage(found[0]) if found else 0
    return f"fired markers left: {len(found):,} after {fires:,} fires" + (
        f" ({each} B each, kept 7 days)" if found else ""
    )


async def bench_burst(r: Redis) -> None:
    slot = (int(time.time()) // 60 + 1) * 60 + 60  # a whole minute at least a minute away
    anchor = datetime.fromtimestamp(slot, UTC)
    config = Config(namespace="bench_b", tasks={f"b{i}": task(3600, anchor) for i in range(10_000)})
    before = await used_memory(r)
    _, recorder = await run_scheduler(r, config, slot + 3)
    burst = [done for due, done in recorder.samples if due == slot]
    print(
        f"(b) burst: {len(burst)} schedules due at the same second; last emitted "
        f"{(max(burst) - slot) * 1000:.1f} ms after it (first {(min(burst) - slot) * 1000:.1f} ms)"
    )
    decisions = await r.memory_usage(Keys("bench_b").decisions("b0")) or 0
    per_task = (await used_memory(r) - before) / len(config.tasks)
    print(f"    Redis memory after it: {per_task:,.0f} B per task (definition, schedule, state, "
          f"run lease, task.due entry, decisions; the decisions: {decisions} B)")  # fmt: skip


async def used_memory(r: Redis) -> int:
    info: Any = await r.info("memory")
    return int(info["used_memory"])


async def bench_cost(r: Redis, rng: random.Random) -> None:
    print("(c) per-fire cost, the same 1,000 active schedules among idle weekly ones, 15 s:")
    active = spread_tasks(1000, rng, prefix="act")
    for idle in (0, 99_000):
        tasks = active | {f"idle{i}": task(86_400 * 7, None) for i in range(idle)}
        run, _ = await run_scheduler(r, Config(namespace=f"bench_c{idle}", tasks=tasks), 15)
        print(f"    {len(tasks):>7,} schedules, {len(run.call_ms)} fires: {run.per_fire_us()}")
        print("        " + spread("call", run.call_ms))
    # The window above holds many first fires (a schedule every 1-60 s fires for the
    # first time in this scheduler within its first minute): each parses its definition.
    steady, _ = await run_scheduler(r, Config(namespace="bench_c_steady", tasks=active), 15,
                                    STEADY_S)  # fmt: skip
    print(f"      1,000 schedules, steady state (after {STEADY_S:.0f} s), {len(steady.call_ms)} "
          f"fires: {steady.per_fire_us()}")  # fmt: skip
    print("        " + spread("call", steady.call_ms))


async def bench_dense(r: Redis, rng: random.Random) -> None:
    """Thousands of fires per second (the CPU target's purpose: one core keeps up with
    them): 10,000 schedules every 2 s with random millisecond phases."""
    base = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    tasks = {f"d{i}": task(2, datetime.fromtimestamp(base + rng.randint(0, 1_999) / 1000, UTC))
             for i in range(10_000)}  # fmt: skip
    window_s = 15
    run, _ = await run_scheduler(r, Config(namespace="bench_d", tasks=tasks), window_s)
    rate = len(run.call_ms) / window_s
    print(f"(d) dense: 10,000 schedules every 2 s, {len(run.call_ms)} fires in "
          f"{window_s} s ({rate:,.0f} per second):")  # fmt: skip
    print("    " + spread("call", run.call_ms))
    per_core = len(run.call_ms) / run.cpu_s if run.cpu_s else float("nan")
    print(f"    {run.per_fire_us()}; one core's worth: {per_core:,.0f} fires/s")


async def main() -> None:
    configure_logging(level="ERROR", json=True)
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp), port=None, appendonly=False)
        server.start()
        r = client(server.url)
        try:
            base, wake_us = await baseline()
            print(
                f"baseline: bare asyncio.sleep to the next 100 ms boundary, {len(base)} samples: "
                f"p50 {statistics.median(base):.2f} ms  p99 {pct(base, 0.99):.2f} ms, "
                f"{wake_us:.0f} µs CPU per wake-up"
            )
            for label, gap_s in (("(a)", FLOOR_GAP_S), ("(c)", SPARSE_GAP_S)):
                plain_us, lane_us, redis_us = await floor(r, max(300, round(2 / gap_s)), gap_s)
                print(
                    f"floor per fire at {label}'s pace: a wake-up {gap_s * 1000:.1f} ms later and "
                    f"one no-op script call: {plain_us:.0f} µs (redis-py) / {lane_us:.0f} µs "
                    f"(lane) + {redis_us:.0f} µs Redis CPU"
                )
            await bench_lateness(r, rng)
            await bench_burst(r)
            await bench_cost(r, rng)
            await bench_dense(r, rng)
        finally:
            await r.aclose()
            server.stop()


if __name__ == "__main__":
    serve(main())  # on uvloop, as the services run
