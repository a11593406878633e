"""Scale benchmark: 100,000 tasks, measured as a user would meet them.

Run: ``.venv/bin/python bench/scale.py [--tasks N]`` (starts its own Redis server).

A YAML file of N weekly ``command`` tasks; then, on a fresh private server:
- ``watchkeeper apply -c FILE``: wall time and peak RSS of the CLI process;
- Redis memory per task (``used_memory`` after apply, less before, over N), and what a
  task's first run adds (its state, run lease, ``task.due`` entry, fired marker and
  decision: ``used_memory`` after the runs below, less before, over their number);
- ``watchkeeper scheduler -c FILE``: load time (lease acquired → definitions loaded, from
  its own log), start-up time (spawned → loaded: it parses and applies the file first),
  and its RSS (``/proc/PID/status``) when it logged the load, once it has caught up with
  the change events apply wrote (the figure compared with the target), after a sixth
  of the tasks were run once, and at its peak.
The baseline is the same figures for N/10 tasks from the same run: a cost that grows
faster than the task count shows in the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from shared.contract.codec import encode
from shared.contract.events import TriggerRun
from shared.contract.keys import SCHEDULER_GROUP, Keys
from shared.runtime.embedded import EmbeddedRedis
from shared.runtime.redis import Redis, client

ROOT = Path(__file__).resolve().parents[1]
NS = "scale"
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def write_config(path: Path, n: int) -> Path:
    """The file, written line by line: building it with ``yaml.safe_dump`` would grow this
    process to about 700 MB, and a child's peak RSS (``ru_maxrss``) counts its parent's
    memory at the fork, so apply's figure would show the bench's own size."""
    file = path / f"tasks-{n}.yml"
    with file.open("w") as out:
        out.write(f"namespace: {NS}\nlogging: {{json: true}}\ntasks:\n")
        for i in range(n):
            at = f"{(i // 60) % 24:02d}:{i % 60:02d}"
            out.write(f"  task{i:06d}:\n    handler: command\n    params: {{argv: ['true']}}\n"
                      f"    schedule: {{weekly: [{DAYS[i % 7]}], at: '{at}'}}\n")  # fmt: skip
    return file


def cli(*args: str, url: str, log: Path | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "REDIS_URL": url, "PYTHONPATH": str(ROOT)}
    out = log.open("wb") if log else subprocess.DEVNULL
    return subprocess.Popen([sys.executable, "-m", "services.cli.main", *args], cwd=ROOT,
                            env=env, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip


def apply(file: Path, url: str) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of ``watchkeeper apply``."""
    start = time.monotonic()
    proc = cli("apply", "-c", str(file), url=url)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"apply failed ({proc.returncode})")
    return time.monotonic() - start, usage.ru_maxrss / 1024


def logged(log: Path, event: str) -> dict[str, Any] | None:
    for line in log.read_text().splitlines():
        if f'"{event}"' in line:
            record: dict[str, Any] = json.loads(line)
            return record
    return None


async def scheduler(r: Redis, file: Path, url: str, log: Path) -> dict[str, float]:
    """What a user of ``watchkeeper scheduler -c FILE`` meets: start-up (spawn → loaded)
    and load (lease acquired → loaded, from its own log) seconds; RSS (MB) when it logged
    the load, once it has caught up with the change events apply wrote, and after a
    sixth of the tasks were run once (manual triggers: each run reads its definition,
    as firing does); its peak RSS (the file's parse at start)."""
    started = time.time()
    proc = cli("scheduler", "-c", str(file), url=url, log=log)
    try:
        async with asyncio.timeout(600):
            while logged(log, "scheduler.loaded") is None:
                if proc.poll() is not None:
                    raise RuntimeError(f"scheduler exited, see {log}")
                await asyncio.sleep(0.02)
            at_loaded = vm(proc.pid, "VmRSS")
            while not await caught_up(r, Keys(NS).control):  # noqa: ASYNC110 (another process's group)
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)  # settle
            settled, runs = vm(proc.pid, "VmRSS"), count_tasks(file) // 6
            before_runs = await used_memory(r)
            await run_some(r, Keys(NS), runs)
            await asyncio.sleep(1.0)
            after_runs, peak = vm(proc.pid, "VmRSS"), vm(proc.pid, "VmHWM")
            run_b = (await used_memory(r) - before_runs) / runs
    finally:
        proc.terminate()
        proc.wait(30)
    acquired, loaded = logged(log, "scheduler.leader_acquired"), logged(log, "scheduler.loaded")
    assert acquired is not None and loaded is not None
    return {"start_s": stamp(loaded) - started, "load_s": stamp(loaded) - stamp(acquired),
            "loaded_mb": at_loaded, "rss_mb": settled, "runs_mb": after_runs,
            "peak_mb": peak, "run_b": run_b}  # fmt: skip


async def used_memory(r: Redis) -> int:
    info: Any = await r.info("memory")
    return int(info["used_memory"])


def vm(pid: int, field: str) -> float:
    """A ``/proc/PID/status`` figure (VmRSS: resident now, VmHWM: peak) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def count_tasks(file: Path) -> int:
    return sum(1 for line in file.open() if line.startswith("  task"))


async def run_some(r: Redis, keys: Keys, n: int) -> None:
    """Trigger ``n`` distinct tasks once each and wait until the scheduler took them all."""
    async with r.pipeline(transaction=False) as pipe:
        for i in range(n):
            pipe.xadd(keys.triggers, encode(TriggerRun(task=f"task{i * 6:06d}")))  # type: ignore[arg-type]
        await pipe.execute()
    while not await caught_up(r, keys.triggers):  # noqa: ASYNC110 (another process's group)
        await asyncio.sleep(0.05)


def stamp(record: dict[str, Any]) -> float:
    return datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")).timestamp()


async def caught_up(r: Redis, stream: str) -> bool:
    """Whether the scheduler's group has read and acked everything on ``stream``."""
    groups: Any = await r.xinfo_groups(stream)
    group = next((g for g in groups if g["name"] == SCHEDULER_GROUP.encode()), None)
    return bool(group and group["pending"] == 0 and group.get("lag") == 0)


async def measure(tmp: Path, n: int) -> dict[str, float]:
    file = write_config(tmp, n)
    server = EmbeddedRedis(tmp / f"redis-{n}", port=None, appendonly=False)
    server.start()
    r = client(server.url)
    try:
        before = await used_memory(r)
        apply_s, apply_mb = apply(file, server.url)
        after = await used_memory(r)
        found = await scheduler(r, file, server.url, tmp / f"scheduler-{n}.log")
    finally:
        await r.aclose()
        server.stop()
    return {"apply_s": apply_s, "apply_mb": apply_mb, "redis_b": (after - before) / n,
            **found}  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        rows = [(n, await measure(tmp, n)) for n in (args.tasks // 10, args.tasks)]
    (_, small), (n, big) = rows
    for count, m in rows:
        print(f"{count:>8,} tasks: apply {m['apply_s']:6.1f} s, peak RSS {m['apply_mb']:6.0f} MB | "
              f"scheduler load {m['load_s']:5.2f} s (start-up {m['start_s']:5.1f} s), "
              f"RSS {m['rss_mb']:5.0f} MB (at load {m['loaded_mb']:.0f}, after "
              f"{count // 6:,} runs {m['runs_mb']:.0f}, peak {m['peak_mb']:.0f}) | "
              f"Redis {m['redis_b']:,.0f} B/task, +{m['run_b']:,.0f} B once run")  # fmt: skip
    ratios = {k: big[k] / small[k] for k in ("apply_s", "load_s", "rss_mb")}
    print(f"ratio {n:,} / {n // 10:,} tasks (10× tasks): apply time {ratios['apply_s']:.1f}×, "
          f"scheduler load {ratios['load_s']:.1f}×, RSS {ratios['rss_mb']:.1f}×")  # fmt: skip
    print(
        f"targets at 100,000: apply ≤ 20 s and ≤ 400 MB, scheduler ≤ 150 MB, load ≤ 3 s "
        f"(host: {os.cpu_count()} cores; self RSS {resource.getrusage(0).ru_maxrss // 1024} MB)"
    )


if __name__ == "__main__":
    asyncio.run(main())
