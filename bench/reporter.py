"""The reporter alone: read, record, ack and alert rules over a queue of results.

Run: ``.venv/bin/python bench/reporter.py [--against DIR [--repeat R]] [--results N]
[--count C ...]``

A fresh private server per scenario; ``--results`` no-op results (as ``bench/pipeline.py``'s
handler makes them) queued on the results stream, then one in-process reporter drains them
``--count`` per read (its batch size; the pipeline's reads are between 1 and 200). Prints
the reporter's CPU and Redis' CPU per result, and the Redis commands per result (INFO
commandstats; commands a script calls are counted inside ``evalsha`` too). With
``--against DIR`` the same scenarios run from that source tree too, in ``--repeat`` rounds
(before/after in one sitting; CPU figures of a shared machine move by ±30 % from one
minute to the next): that tree first in odd rounds, this one first in even ones, since
the one run second is often the slower (docs/performance.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from services.reporter.service import Reporter
from shared.config.models import Config
from shared.contract.codec import encode
from shared.contract.events import TaskResult
from shared.contract.keys import Keys
from shared.runtime.embedded import EmbeddedRedis
from shared.runtime.logging import configure_logging
from shared.runtime.redis import Redis, client

ROOT = Path(__file__).resolve().parents[1]
T0 = 1_795_400_000.0


def result(n: int) -> TaskResult:
    return TaskResult(run_id=f"noop:{n}", task="noop", handler="bench_noop", attempt=1,
                      trigger="manual", scheduled_for=T0, status="succeeded", started_at=T0,
                      finished_at=T0 + 0.001, duration_s=0.001, executor="e1", message="noop",
                      metrics={"started": T0})  # fmt: skip


async def redis_cpu(r: Redis) -> float:
    info: Any = await r.info("cpu")
    return float(info["used_cpu_user"] + info["used_cpu_sys"])


async def drain(tmp: Path, results: int, count: int) -> str:
    srv = EmbeddedRedis(tmp, port=None, appendonly=False)
    srv.start()
    r = client(srv.url)
    try:
        keys, reporter = Keys("bench"), Reporter(r, Config(namespace="bench"))
        reporter.consumer.count = count
        await reporter.start()
        async with r.pipeline(transaction=False) as pipe:
            for n in range(results + count):
                pipe.xadd(keys.results, encode(result(n)))  # type: ignore[arg-type]
            await pipe.execute()
        await reporter.run_once(block_ms=None)  # warm: scripts loaded, imports done
        await r.config_resetstat()
        cpu0, redis0, done = time.process_time(), await redis_cpu(r), 0
        while n := await reporter.run_once(block_ms=None):
            done += n
        cpu, redis = time.process_time() - cpu0, await redis_cpu(r) - redis0
        stats: Any = await r.info("commandstats")
    finally:
        await r.aclose()
        srv.stop()
    top = sorted(stats.items(), key=lambda kv: -kv[1]["usec"])[:6]
    calls = "  ".join(f"{k.removeprefix('cmdstat_')} {v['calls'] / done:.2f}" for k, v in top)
    head = f"{count:>4} per read: reporter {cpu / done * 1e6:5.1f} µs/result  "
    return head + f"redis {redis / done * 1e6:5.1f} µs/result\n{'':>16}calls/result: {calls}"


async def main(args: Any) -> None:
    configure_logging(level="WARNING", json=True)
    for count in args.count:
        with tempfile.TemporaryDirectory() as tmp:
            print(await drain(Path(tmp), args.results, count), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=10_000)
    parser.add_argument("--count", type=int, nargs="+", default=[20, 200])
    parser.add_argument("--against", metavar="DIR", help="also run from this source tree")
    parser.add_argument("--repeat", type=int, default=2,
                        help="rounds with --against (the order alternates)")  # fmt: skip
    args = parser.parse_args()
    if not args.against:
        asyncio.run(main(args))
        sys.exit(0)
    trees = [("before", Path(args.against).resolve()), ("after", ROOT)]
    argv = [sys.executable, str(Path(__file__).resolve()), "--results", str(args.results),
            "--count", *map(str, args.count)]  # fmt: skip
    for n in range(args.repeat):
        print(f"-- round {n + 1}", flush=True)
        for label, tree in trees if n % 2 == 0 else trees[::-1]:
            print(f"== {label} ({tree})", flush=True)
            # That tree's modules come first on the path: this script only drives them.
            env = {**os.environ, "PYTHONPATH": str(tree)}
            subprocess.run(argv, cwd=tree, env=env, check=True)
