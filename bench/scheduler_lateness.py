"""Scheduler benchmark: fire lateness, a 10,000-schedule burst, per-fire cost vs schedule count.

Run: ``.venv/bin/python bench/scheduler_lateness.py`` (starts its own Redis server).

Lateness is measured from a fire's due time (slot + jitter) to the moment the script call
that XADDed its ``task.due`` returned to the scheduler: an upper bound on when the entry
is in the stream. The baseline is a bare ``asyncio.sleep`` to the next boundary, measured
in the same run on the same machine.
"""

from __future__ import annotations

import asyncio
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.scheduler.emitter import Emission, Emitter
from services.scheduler.service import Scheduler
from shared import taskdefs
from shared.config import Config, TaskConfig
from shared.embedded import EmbeddedRedis
from shared.keys import Keys
from shared.logging import configure_logging
from shared.redis import Redis, client


class Recorder:
    """Wraps the emitter's ``emit`` to note (due time, call returned) per emitted item."""

    def __init__(self, emitter: Emitter) -> None:
        self.samples: list[tuple[float, float]] = []
        self._emit = emitter.emit
        emitter.emit = self.emit  # type: ignore[method-assign]

    async def emit(self, token: str, items: Sequence[Emission], now_ms: int) -> list[int]:
        codes = await self._emit(token, items, now_ms)
        done = time.time()
        self.samples += [(i.due.scheduled_for, done) for i, c in zip(items, codes, strict=True)
                         if c == 1]  # fmt: skip
        return codes


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def baseline(samples: int = 100, step_s: float = 0.1) -> list[float]:
    """Lateness (ms) of a bare asyncio.sleep to the next ``step_s`` boundary."""
    late = []
    for _ in range(samples):
        now = time.time()
        target = (int(now / step_s) + 1) * step_s
        await asyncio.sleep(target - now)
        late.append((time.time() - target) * 1000)
    return late


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


async def run_scheduler(r: Redis, config: Config, seconds: float) -> tuple[Recorder, float]:
    """Apply ``config``, run one scheduler for ``seconds``; return its samples and CPU s."""
    await taskdefs.apply(r, Keys(config.namespace), config)
    scheduler = Scheduler(r, config)
    recorder = Recorder(scheduler.rt.emitter)
    stop = asyncio.Event()
    runner = asyncio.create_task(scheduler.run(stop))
    await scheduler.leading.wait()  # set once the definitions are loaded
    cpu0 = resource.getrusage(resource.RUSAGE_SELF).ru_utime
    recorder.samples.clear()
    await asyncio.sleep(seconds)
    cpu = resource.getrusage(resource.RUSAGE_SELF).ru_utime - cpu0
    stop.set()
    await runner
    return recorder, cpu


async def bench_lateness(r: Redis, rng: random.Random) -> None:
    config = Config(namespace="bench_a", tasks=spread_tasks(10_000, rng))
    recorder, _ = await run_scheduler(r, config, 20)
    late = [(done - due) * 1000 for due, done in recorder.samples]
    print(f"(a) lateness, 10,000 schedules every 1-60 s, {len(late)} fires in 20 s:")
    print(f"    p50 {pct(late, 0.5):.2f} ms  p99 {pct(late, 0.99):.2f} ms  "
          f"max {max(late):.2f} ms")  # fmt: skip


async def bench_burst(r: Redis) -> None:
    slot = (int(time.time()) // 60 + 1) * 60 + 60  # a whole minute at least a minute away
    anchor = datetime.fromtimestamp(slot, UTC)
    config = Config(namespace="bench_b", tasks={f"b{i}": task(3600, anchor) for i in range(10_000)})
    recorder, _ = await run_scheduler(r, config, slot - time.time() + 3)
    burst = [done for due, done in recorder.samples if due == slot]
    print(
        f"(b) burst: {len(burst)} schedules due at the same second; last emitted "
        f"{(max(burst) - slot) * 1000:.1f} ms after it (first {(min(burst) - slot) * 1000:.1f} ms)"
    )


async def bench_cost(r: Redis, rng: random.Random) -> None:
    print("(c) per-fire cost (scheduler CPU time / fires), same 1,000 active schedules:")
    for idle in (0, 99_000):
        tasks = spread_tasks(1000, rng, prefix="act")
        tasks |= {f"idle{i}": task(86_400 * 7, None) for i in range(idle)}
        config = Config(namespace=f"bench_c{idle}", tasks=tasks)
        recorder, cpu = await run_scheduler(r, config, 15)
        late = [(done - due) * 1000 for due, done in recorder.samples]
        print(
            f"    {len(tasks):>7,} schedules: {cpu / len(late) * 1e6:7.1f} µs CPU per fire "
            f"({len(late)} fires), lateness p50 {pct(late, 0.5):.2f} ms "
            f"p99 {pct(late, 0.99):.2f} ms"
        )


async def main() -> None:
    configure_logging(level="WARNING", json=True)
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp), port=None, appendonly=False)
        server.start()
        r = client(server.url)
        try:
            base = await baseline()
            print(
                f"baseline: bare asyncio.sleep to the next 100 ms boundary, {len(base)} samples: "
                f"p50 {statistics.median(base):.2f} ms  p99 {pct(base, 0.99):.2f} ms"
            )
            await bench_lateness(r, rng)
            await bench_burst(r)
            await bench_cost(r, rng)
        finally:
            await r.aclose()
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
