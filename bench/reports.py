"""Report benchmark: daily and weekly reports over 1,000,000 results (50 tasks × 90 days).

Run: ``.venv/bin/python bench/reports.py [--tasks N] [--days D] [--results R]``
(starts its own Redis server).

The daily aggregates are written directly, as the reporter would have left them after
recording R results spread over N tasks and D days (counters per status, duration
histogram, handler totals, slots run, health gauges, the day's last error); the result
hashes themselves are not needed by reports and are not written. Then, from the same
server and in the same run:
- baseline: one pipeline of HGETALL over the keys the report reads (tasks × days), the
  least I/O any report built from these aggregates must do;
- report: ``make_report`` (task definitions, aggregates, expected slots, alerts, the
  model) and rendering every format (JSON, CSV, Markdown, HTML with charts).
Printed: seconds for each (best of 3), the report/baseline ratio, and the Redis memory the
aggregates take (MEMORY USAGE summed, and per result). Target: ≤ 1 s per report.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from shared.config import taskdefs
from shared.config.models import Config
from shared.contract.keys import Keys
from shared.contract.readmodel import BUCKET_LABELS, SAMPLED_GAUGES
from shared.reports.formats import RENDERERS, render
from shared.reports.load import daily_metrics, make_report
from shared.reports.periods import Kind, ReportPeriods
from shared.runtime.embedded import EmbeddedRedis
from shared.runtime.logging import configure_logging
from shared.runtime.redis import Redis, client

REPORT_DAY = date(2026, 3, 15)  # a Sunday: the weekly report's day
SCHEDULES: list[dict[str, Any]] = [{"every": "5m"}, {"every": "1h"}, {"cron": "0 2 * * *"}]


def config(n_tasks: int) -> Config:
    tasks = {
        f"task_{i:02d}": {"handler": "system_health_check" if i % 10 == 0 else "command",
                          "params": {} if i % 10 == 0 else {"argv": ["true"]},
                          "schedule": SCHEDULES[i % 3]}
        for i in range(n_tasks)
    }  # fmt: skip
    return Config.model_validate({"namespace": "bench", "timezone": "America/New_York",
                                  "tasks": tasks})  # fmt: skip


def day_fields(rng: random.Random, runs: int, health: bool) -> dict[str, Any]:
    """One task-day's aggregate, as the reporter's increments would have left it."""
    failed = rng.randint(0, max(1, runs // 50))
    buckets = [0] * len(BUCKET_LABELS)
    for _ in range(min(runs, 64)):  # shape the histogram from a sample, scale to runs
        buckets[min(int(rng.expovariate(0.7)), len(buckets) - 1)] += 1
    scale = runs / max(1, sum(buckets))
    counts = [int(b * scale) for b in buckets]
    counts[0] += runs - sum(counts)
    fields: dict[str, Any] = {
        "runs": runs, "succeeded": runs - failed, "failed": failed,
        "duration_sum": runs * 2.5, "duration_max": 900.0, "slots_run": runs,
        "bytes_freed": rng.randint(0, 10**9), "files_processed": rng.randint(0, 10**4),
        **dict(zip(BUCKET_LABELS, counts, strict=True)),
    }  # fmt: skip
    if failed:
        fields["last_error"] = "OSError: [Errno 28] No space left on device: '/data/x.parquet'"
    for gauge in SAMPLED_GAUGES if health else ():
        low = rng.uniform(20, 60)
        fields |= {f"{gauge}:min": low, f"{gauge}:max": low + 30, f"{gauge}:sum": runs * (low + 15),
                   f"{gauge}:n": runs}  # fmt: skip
    return fields


async def write_aggregates(r: Redis, cfg: Config, days: int, results: int) -> int:
    """Write tasks × days aggregates holding ``results`` results; returns their bytes."""
    keys, rng, names = Keys(cfg.namespace), random.Random(7), sorted(cfg.tasks)
    await taskdefs.apply(r, keys, cfg)
    cells = [(t, REPORT_DAY - timedelta(days=d)) for t in names for d in range(days)]
    per, extra = divmod(results, len(cells))
    async with r.pipeline(transaction=False) as pipe:
        for i, (task, day) in enumerate(cells):
            fields = day_fields(rng, per + (i < extra), cfg.tasks[task].handler != "command")
            pipe.hset(keys.metrics(task, day.strftime("%Y%m%d")), mapping=fields)
        await pipe.execute()
    async with r.pipeline(transaction=False) as pipe:
        for task, day in cells:
            pipe.memory_usage(keys.metrics(task, day.strftime("%Y%m%d")))
        return sum(await pipe.execute())


async def best_of(n: int, work: Any) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        await work()
        times.append(time.perf_counter() - started)
    return min(times)


async def measure(r: Redis, cfg: Config, kind: Kind) -> tuple[float, float, int]:
    """(baseline s, report s, keys read) for one report kind."""
    keys, now = Keys(cfg.namespace), datetime(2026, 3, 15, 23, 0, tzinfo=UTC)
    day = REPORT_DAY if kind == "weekly" else REPORT_DAY - timedelta(days=1)
    days = ReportPeriods.of(kind, day).chart.keys()

    async def bare() -> None:
        await daily_metrics(r, keys, sorted(cfg.tasks), days)

    async def report() -> None:
        built = await make_report(r, keys, cfg, kind, day, now)
        for fmt in RENDERERS:
            render(built, fmt)

    await report()  # warm-up: templates, connections
    return await best_of(3, bare), await best_of(3, report), len(days) * len(cfg.tasks)


async def main(n_tasks: int, days: int, results: int) -> None:
    configure_logging(level="WARNING", json=True)
    cfg = config(n_tasks)
    with tempfile.TemporaryDirectory() as tmp:
        async with EmbeddedRedis(Path(tmp), port=None, appendonly=False) as server:
            r = client(server.url)
            try:
                size = await write_aggregates(r, cfg, days, results)
                figures = {kind: await measure(r, cfg, kind) for kind in ("daily", "weekly")}
            finally:
                await r.aclose()
    print(f"reports over {results:,} results: {n_tasks} tasks × {days} days of aggregates")
    print(f"  aggregates in Redis: {size / 2**20:8.2f} MiB ({n_tasks * days:,} hashes, "
          f"{size / results:.1f} bytes per result)")  # fmt: skip
    for kind, (bare_s, report_s, read) in figures.items():
        print(f"  {kind:<6} report: {report_s:6.3f} s  (bare HGETALL of its {read:,} keys "
              f"{bare_s:6.3f} s; ratio report/bare {report_s / bare_s:5.1f}; target ≤ 1 s "
              f"{'met' if report_s <= 1 else 'MISSED'})")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--results", type=int, default=1_000_000)
    args = parser.parse_args()
    asyncio.run(main(args.tasks, args.days, args.results))
