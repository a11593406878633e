"""Pipeline benchmark: trigger → handler start → recorded result, beside taskiq and bare redis-py.

Run: ``.venv/bin/python bench/pipeline.py [--runs N] [--latency N] [--repeat K]``
(peers need ``pip install -e '.[bench]'``; without them Watchkeeper's part still runs).
``--hops`` also times each hop of trigger → start (``bench/support/hoptrace.py``: the
scheduler's read, its handling and ``schedule_emit``, the executor's wake and take, the
attempt and the handler) and counts each process's cyclic collections in each phase;
``--warmup N`` sends N paced triggers, not measured, before the latency phase. Each side
is measured once it is ready: taskiq's worker once it ran one task, Watchkeeper's services
once one trigger went through to a recorded result (before that, the first triggers
waited up to 50 ms for the scheduler's first read after it took the lease).

Each scenario gets a fresh private server (no persistence) on loopback:
- Watchkeeper, ``split`` (scheduler, executor and reporter as three processes) and ``up``
  (one process): triggers XADDed to ``{ns}:stream:triggers`` by a plain redis-py client, a
  no-op handler loaded through ``executor.plugins`` (``bench/support/noop.py``); a run is
  complete when the reporter group has read and acked its result.
  * latency: ``--latency`` triggers 5 ms apart (200/s), trigger XADD → handler start;
  * throughput: ``--runs`` triggers at once, first XADD → last result acked by the
    reporter (polled every 5 ms, as taskiq's), CPU µs per run of each process and of Redis;
  * critical: another burst, of ``--critical-runs`` triggers (5,000, the issue's figure),
    and while it drains an emergency trigger every 10 ms: how fast a critical run
    overtakes the backlog (trigger XADD → handler start). Until stop 30 this was the
    throughput burst itself, whose rate then also paid for the emergencies and the
    client's polling.
- taskiq (Redis stream broker, one worker process): the same no-op task, one hop
  (kicked → consumed and acked), the same latency and throughput phases.
- bare redis-py: XADD everything, then XREADGROUP + XACK one entry at a time, and
  batched (COUNT 100, one XACK per batch): the least any stream consumer can do.
Ratios are taken against taskiq's single hop measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import yaml

from shared.contract.codec import decode, encode
from shared.contract.events import TaskResult, TriggerEmergency, TriggerRun
from shared.contract.keys import REPORTER_GROUP, Keys
from shared.runtime.embedded import EmbeddedRedis
from shared.runtime.redis import Redis, client, ensure_group

ROOT = Path(__file__).resolve().parents[1]
NS = "bench"
START_S = 60.0
"""Bound on a service process becoming ready (imports on a loaded 2-core machine)."""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def spread(values_ms: list[float]) -> str:
    return (f"p50 {pct(values_ms, 0.5):6.2f} ms  p99 {pct(values_ms, 0.99):7.2f} ms  "
            f"max {max(values_ms, default=float('nan')):7.2f} ms")  # fmt: skip


@dataclass
class Figures:
    """What one scenario measured."""

    name: str
    rate: float = 0.0
    latency_ms: list[float] = field(default_factory=list)
    urgent_ms: list[float] = field(default_factory=list)
    urgent_burst: tuple[int, float] = (0, 0.0)
    """The critical phase's burst: (triggers, runs/s it drained at, emergencies included)."""
    cpu_us: dict[str, float] = field(default_factory=dict)
    hops: list[list[str]] = field(default_factory=list)
    """Per-hop tables (``--hops``) of the paced triggers and the critical ones."""

    def lines(self, reference: float | None) -> list[str]:
        ratio = f"  ({self.rate / reference:.2f}× taskiq)" if reference else ""
        out = [f"{self.name:<35} {self.rate:>9,.0f} runs/s{ratio}"]
        if self.latency_ms:
            out.append(f"{'':<4}trigger → start at 200/s:    {spread(self.latency_ms)}")
        if self.urgent_ms:
            n, rate = self.urgent_burst
            out.append(f"{'':<4}critical during the burst:   {spread(self.urgent_ms)}"
                       f"  ({n:,} triggers drained at {rate:,.0f} runs/s)")  # fmt: skip
        if self.cpu_us:
            parts = "  ".join(f"{k} {v:,.0f}" for k, v in self.cpu_us.items())
            out.append(f"{'':<4}CPU µs per run: {parts}  total {sum(self.cpu_us.values()):,.0f}")
        for title, table in zip(("paced at 200/s", "critical during the burst"), self.hops,
                                strict=False):  # fmt: skip
            out += [f"{'':<4}hops, {title} (ms):", *table]
        return out


class Server:
    """A fresh private server and a client for one scenario."""

    def __init__(self, tmp: Path) -> None:
        self.srv = EmbeddedRedis(tmp, port=None, appendonly=False)

    async def __aenter__(self) -> Redis:
        self.srv.start()
        self.r = client(self.srv.url)
        return self.r

    async def __aexit__(self, *_: object) -> None:
        await self.r.aclose()
        self.srv.stop()

    @property
    def url(self) -> str:
        return self.srv.url


async def redis_cpu(r: Redis) -> float:
    info: Any = await r.info("cpu")
    return float(info["used_cpu_user"] + info["used_cpu_sys"])


def proc_cpu(pid: int) -> float:
    process = psutil.Process(pid)
    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        times = p.cpu_times()
        total += times.user + times.system
    return total


class Processes:
    """Service processes of one scenario (logs in ``logs``), stopped with SIGTERM."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, name: str, argv: list[str], env: dict[str, str], tree: Path = ROOT) -> None:
        """Start ``argv`` in ``tree`` (a source tree whose code it runs)."""
        self.logs.mkdir(parents=True, exist_ok=True)
        path = os.pathsep.join(dict.fromkeys([str(tree), str(ROOT)]))  # bench.support from ROOT
        with (self.logs / f"{name}.log").open("wb") as out:
            self.procs[name] = subprocess.Popen(
                argv, cwd=tree, env={**os.environ, **env, "PYTHONPATH": path},
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def tails(self) -> str:
        """The end of every process's log (printed when a scenario fails)."""
        return "\n".join(f"== {name}\n" + (self.logs / f"{name}.log").read_text()[-3000:]
                         for name in self.procs)  # fmt: skip

    def cpu(self) -> dict[str, float]:
        """CPU seconds of each process and its children (taskiq forks its workers)."""
        return {name: proc_cpu(p.pid) for name, p in self.procs.items()}

    def check(self) -> None:
        dead = [n for n, p in self.procs.items() if p.poll() is not None]
        if dead:
            raise RuntimeError(f"bench process(es) exited early: {dead}")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def until(check: Callable[[], Awaitable[bool]], within_s: float, what: str) -> None:
    """Poll ``check`` (another process's state) until true, failing after ``within_s``."""
    try:
        async with asyncio.timeout(within_s):
            while not await check():  # noqa: ASYNC110 (another process's state)
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise RuntimeError(f"timed out waiting for {what}") from None


async def group_done(r: Redis, stream: str, group: str, total: int) -> bool:
    """Whether ``group`` has read ``total`` entries of ``stream`` and acked them all."""
    groups: Any = await r.xinfo_groups(stream)
    for g in groups:
        if g["name"] == group.encode():
            return bool(g["entries-read"] is not None and g["entries-read"] >= total
                        and g["pending"] == 0)  # fmt: skip
    return False


# -- Watchkeeper -------------------------------------------------------------------
def wk_config(tmp: Path) -> Path:
    noop = {"handler": "bench_noop", "overlap": "allow", "max_instances": 1_000_000}
    config = {
        "namespace": NS,
        "api": {"port": 0},
        "executor": {"plugins": ["bench.support.noop"], "max_concurrent": 32},
        "tasks": {"noop": noop, "urgent": {**noop, "emergency": True, "priority": "critical"}},
    }
    path = tmp / "watchkeeper.yml"
    path.write_text(yaml.safe_dump(config))
    return path


async def wk_ready(r: Redis, keys: Keys, procs: Processes) -> None:
    async def ready() -> bool:
        procs.check()
        executors = [k async for k in r.scan_iter(match=keys.executor("*"))]
        groups: Any = await r.xinfo_groups(keys.results) if await r.exists(keys.results) else []
        reporter = any(g["name"] == REPORTER_GROUP.encode() for g in groups)
        return bool(await r.exists(keys.scheduler_leader)) and bool(executors) and reporter

    await until(ready, START_S, "Watchkeeper's services")
    # Ready once one run went through, as taskiq's worker is once it ran one: the first
    # triggers must not wait for the scheduler to reach its first read after the lease.
    await wk_latency(r, keys, 1)


@dataclass
class Started:
    """One measured run: its trigger and run ids and when it was sent, attempted, started."""

    trigger: str
    """``<stream>/<entry id>`` of its trigger."""
    run_id: str
    sent: float
    attempt: float
    handler: float


async def wk_results(
    r: Redis, keys: Keys, sent: dict[str, float], since: bytes = b"-"
) -> list[tuple[str, TaskResult]]:
    """(trigger id, result) of every result after ``since`` whose trigger is in ``sent``
    (run ids end with ``m<trigger id>`` or ``e<trigger id>``)."""
    entries: Any = await r.xrange(keys.results, min=since)
    found = []
    for _, fields in entries:
        result = decode(fields)
        assert isinstance(result, TaskResult)
        trigger_id = result.run_id.rsplit(":", 1)[1][1:]
        if trigger_id in sent:
            found.append((trigger_id, result))
    return found


async def wk_started(r: Redis, keys: Keys, sent: dict[str, float], stream: str) -> list[Started]:
    """The runs whose trigger (on ``stream``) is in ``sent``."""
    return [Started(f"{stream}/{trigger_id}", result.run_id, sent[trigger_id],
                    result.started_at, float(result.metrics["started"]))
            for trigger_id, result in await wk_results(r, keys, sent)]  # fmt: skip


async def wk_latencies(r: Redis, keys: Keys, sent: dict[str, float], since: bytes) -> list[float]:
    """Trigger XADD → handler start (ms) of every result after ``since`` whose trigger
    is in ``sent``. With ``BENCH_HOPS`` set, prints where the slowest 2 % spent their time."""
    hops = []
    for trigger_id, result in await wk_results(r, keys, sent, since):
        at = (sent[trigger_id], result.scheduled_for, result.started_at,
              float(result.metrics["started"]))  # fmt: skip
        hops.append([(b - a) * 1000 for a, b in itertools.pairwise(at)])
    if os.environ.get("BENCH_HOPS"):
        slow = sorted(hops, key=sum)[-max(1, len(hops) // 50) :]
        print("    slowest 2 %: trigger→scheduler, →executor attempt, →handler (ms):",
              [[round(h, 1) for h in hop] for hop in slow])  # fmt: skip
    return [sum(hop) for hop in hops]


async def wk_paced(r: Redis, stream: str, n: int, gap_s: float, event: Any) -> dict[str, float]:
    """XADD ``n`` copies of ``event`` to ``stream``, ``gap_s`` apart; trigger id → send
    instant."""
    sent: dict[str, float] = {}
    fields = encode(event)
    start = time.monotonic()
    for i in range(n):
        await asyncio.sleep(max(0.0, start + i * gap_s - time.monotonic()))
        at = time.time()
        sent[(await r.xadd(stream, fields)).decode()] = at  # type: ignore[arg-type]
    return sent


async def wk_latency(r: Redis, keys: Keys, n: int) -> tuple[list[float], dict[str, float]]:
    """Trigger → start (ms) of ``n`` triggers 5 ms apart, and when each was sent."""
    before = await r.xlen(keys.triggers)
    sent = await wk_paced(r, keys.triggers, n, 0.005, TriggerRun(task="noop"))
    await until(lambda: group_done(r, keys.results, REPORTER_GROUP, before + n), 120, "results")
    return await wk_latencies(r, keys, sent, b"-"), sent


async def wk_burst(r: Redis, keys: Keys, n: int) -> float:
    """``n`` triggers at once; seconds until the reporter acked the last result."""
    total = await r.xlen(keys.results) + n
    start = time.time()
    await pipelined(r, keys.triggers, [encode(TriggerRun(task="noop"))] * n)
    await until(lambda: group_done(r, keys.results, REPORTER_GROUP, total), 600, "the burst")
    return time.time() - start


async def wk_critical(r: Redis, keys: Keys, n: int) -> tuple[float, list[float], dict[str, float]]:
    """``n`` triggers at once, an emergency every 10 ms while they drain; (seconds, ms,
    when each emergency was sent)."""
    total = await r.xlen(keys.results) + n
    fields = encode(TriggerRun(task="noop"))
    start = time.time()
    await pipelined(r, keys.triggers, [fields] * n)
    # Emergencies go to their own stream when the tree under test reads one (its
    # scheduler created the group); an older tree takes them on the triggers stream.
    to = keys.emergency if await r.exists(keys.emergency) else keys.triggers
    urgent: dict[str, float] = {}
    while not await group_done(r, keys.results, REPORTER_GROUP, total + len(urgent)):
        urgent |= await wk_paced(r, to, 1, 0, TriggerEmergency(task="urgent"))
        await asyncio.sleep(0.01)
    seconds = time.time() - start
    return seconds, await wk_latencies(r, keys, urgent, b"-"), urgent


async def watchkeeper(
    tmp: Path, name: str, services: list[str], args: Any, tree: Path = ROOT
) -> Figures:
    config = wk_config(tmp)
    keys, procs = Keys(NS), Processes(tmp / f"{name}-logs")
    trace = tmp / f"{name}-trace"
    trace.mkdir()
    env = {"BENCH_TRACE": str(trace)} if args.hops else {}
    wrap = ["-m", "bench.support.hoptrace"] if args.hops else ["-m"]
    async with Server(tmp / name) as r:
        url = f"redis://127.0.0.1:{r.connection_pool.connection_kwargs['port']}"
        for service in services:
            procs.spawn(service, [sys.executable, *wrap, "services.cli.main", service,
                                  "-c", str(config)], {"REDIS_URL": url, **env},
                        tree)  # fmt: skip
        try:
            await wk_ready(r, keys, procs)
            if args.warmup:  # not measured: the services' first runs after their start
                await wk_latency(r, keys, args.warmup)
            latency, paced = await wk_latency(r, keys, args.latency)
            figures = Figures(name, latency_ms=latency)
            cpu0, redis0 = procs.cpu(), await redis_cpu(r)
            seconds = await wk_burst(r, keys, args.runs)
            cpu1, redis1 = procs.cpu(), await redis_cpu(r)
            urgent_to = keys.emergency if await r.exists(keys.emergency) else keys.triggers
            drained, figures.urgent_ms, urgent = await wk_critical(r, keys, args.critical_runs)
            n = args.critical_runs
            figures.urgent_burst = (n, (n + len(urgent)) / drained)
            started = [
                await wk_started(r, keys, paced, keys.triggers),
                await wk_started(r, keys, urgent, urgent_to),
            ]
        except RuntimeError:
            print(procs.tails())
            raise
        finally:
            procs.stop()
    if args.hops:
        figures.hops = [hop_table(runs, load_trace(trace)) for runs in started]
        for table, runs in zip(figures.hops, started, strict=True):
            if runs:
                table += gc_pauses(trace, min(r.sent for r in runs), max(r.handler for r in runs))
    figures.rate = args.runs / seconds
    figures.cpu_us = {k: (cpu1[k] - cpu0[k]) / args.runs * 1e6 for k in cpu0}
    figures.cpu_us["redis"] = (redis1 - redis0) / args.runs * 1e6
    return figures


HOPS = (
    "sent",
    "sched_read",
    "sched_handle",
    "emitted",
    "exec_woken",
    "take_start",
    "taken",
    "attempt",
    "handler",
)


def load_trace(trace: Path) -> dict[str, dict[str, float]]:
    """Every process's stamps (:mod:`bench.support.hoptrace`): key → stamp → instant (the
    last one of each name: a retried read stamps again)."""
    stamps: dict[str, dict[str, float]] = {}
    for path in trace.glob("*.json"):
        for key, pairs in json.loads(path.read_text()).items():
            if key != "gc":
                stamps.setdefault(key, {}).update(dict(pairs))
    return stamps


def gc_pauses(trace: Path, since: float, until: float) -> list[str]:
    """Cyclic collections per process and generation (stamped by the hop trace) between
    ``since`` and ``until`` (epoch s): how many, their CPU in all, the longest (CPU, and
    wall time: it may include waiting for a core)."""
    lines = []
    for path in sorted(trace.glob("*.json")):
        stamps = json.loads(path.read_text())
        name = stamps["service"][0][0]
        for gen in range(3):
            spans = [(cpu, wall) for g, at, wall, cpu in stamps.get("gc", [])
                     if g == gen and since <= at <= until]  # fmt: skip
            if spans:
                worst = max(spans)
                lines.append(f"{'':<6}gc {name:<9} gen{gen}: {len(spans):5} collections, "
                             f"{sum(c for c, _ in spans):7.1f} ms CPU, longest "
                             f"{worst[0]:5.1f} ms CPU ({worst[1]:5.1f} ms wall)")  # fmt: skip
    return lines


def hop_table(runs: list[Started], stamps: dict[str, dict[str, float]]) -> list[str]:
    """p50 / p99 / max of each hop, and the mean split of the slowest 1 %. An executor
    that took the run without a wake (busy, or the take right after the previous one)
    counts the wake as the take's start."""
    rows, stamped = [], []
    for run in sorted(runs, key=lambda r: r.sent):
        at = {"sent": run.sent, "attempt": run.attempt, "handler": run.handler,
              **stamps.get(run.trigger, {}), **stamps.get(run.run_id, {})}  # fmt: skip
        if not all(h in at for h in HOPS if h != "exec_woken"):
            continue
        if at.get("exec_woken", 0.0) < at["sched_handle"] or at["exec_woken"] > at["take_start"]:
            at["exec_woken"] = at["take_start"]
        rows.append([(at[b] - at[a]) * 1000 for a, b in itertools.pairwise(HOPS)])
        stamped.append(at)
    if not rows:
        return [f"{'':<6}(no stamps)"]
    slow = sorted(rows, key=sum)[-max(1, len(rows) // 100) :]
    order = sorted(range(len(rows)), key=lambda i: sum(rows[i]))[-len(slow) :]
    out = [f"{'':<6}slowest 1 % (n-th sent): {sorted(order)} of {len(rows)}"]
    for i, (a, b) in enumerate(itertools.pairwise(HOPS)):
        column = [row[i] for row in rows]
        mean_slow = sum(row[i] for row in slow) / len(slow)
        out.append(f"{'':<6}{a + ' → ' + b:<26} {spread(column)}  slowest 1 %: {mean_slow:6.2f}")
    total = [sum(row) for row in rows]
    out.append(f"{'':<6}{'total (' + str(len(rows)) + ' runs)':<26} {spread(total)}")
    busy = [max(0.0, (at["sched_asked"] - at["sent"]) * 1000) for at in stamped]
    out.append(f"{'':<6}{'scheduler read sent late':<26} {spread(busy)}"
               f"  ({sum(b > 0 for b in busy)} runs)")  # fmt: skip
    return out


# -- peers --------------------------------------------------------------------------
async def taskiq_peer(tmp: Path, args: Any) -> Figures | None:
    try:
        importlib.import_module("taskiq_redis")
    except ImportError:
        print("taskiq: not installed, peers skipped (pip install -e '.[bench]')")
        return None
    procs = Processes(tmp / "taskiq-logs")
    async with Server(tmp / "taskiq") as r:
        url = f"redis://127.0.0.1:{r.connection_pool.connection_kwargs['port']}"
        os.environ["BENCH_REDIS_URL"] = url
        # bench/ is on sys.path; reloaded so that its broker uses this round's server.
        name = "support.taskiq_app"
        app: Any = importlib.reload(sys.modules[name]) if name in sys.modules else None
        app = app or importlib.import_module(name)
        await ensure_group(r, app.STREAM, "taskiq")
        procs.spawn("worker", [sys.executable, "-m", "taskiq", "worker",
                               "bench.support.taskiq_app:broker", "--workers", "1"],
                    {"BENCH_REDIS_URL": url})  # fmt: skip
        await app.broker.startup()
        try:
            figures = await _taskiq_phases(r, app, procs, args)
        finally:
            await app.broker.shutdown()
            procs.stop()
    return figures


async def _taskiq_phases(r: Redis, app: Any, procs: Processes, args: Any) -> Figures:
    async def warm() -> bool:
        procs.check()
        return bool(await r.llen(app.LATENCIES))

    await app.noop.kiq(time.time())  # the worker is ready once it ran one
    await until(warm, START_S, "the taskiq worker")
    await r.delete(app.LATENCIES)
    start = time.monotonic()
    for i in range(args.latency):
        await asyncio.sleep(max(0.0, start + i * 0.005 - time.monotonic()))
        await app.noop.kiq(time.time())
    paced = 1 + args.latency
    await until(lambda: group_done(r, app.STREAM, "taskiq", paced), 120, "taskiq")
    latency = [float(x) * 1000 for x in await r.lrange(app.LATENCIES, 0, -1)]
    cpu0, redis0 = procs.cpu(), await redis_cpu(r)
    t0 = time.time()
    await pipelined(r, app.STREAM, [{b"data": app.message()} for _ in range(args.runs)])
    total = paced + args.runs
    await until(lambda: group_done(r, app.STREAM, "taskiq", total), 600, "taskiq burst")
    seconds = time.time() - t0
    cpu1, redis1 = procs.cpu(), await redis_cpu(r)
    cpu = {"worker": (cpu1["worker"] - cpu0["worker"]) / args.runs * 1e6,
           "redis": (redis1 - redis0) / args.runs * 1e6}  # fmt: skip
    return Figures("taskiq stream, one hop", args.runs / seconds, latency, cpu_us=cpu)


async def pipelined(r: Redis, stream: str, entries: list[Any]) -> None:
    """XADD ``entries`` in pipelines of 1,000 (how every producer here sends a burst)."""
    for chunk in range(0, len(entries), 1000):
        async with r.pipeline(transaction=False) as pipe:
            for fields in entries[chunk : chunk + 1000]:
                pipe.xadd(stream, fields)
            await pipe.execute()


async def bare_peer(tmp: Path, args: Any, batch: int) -> Figures:
    """XADD ``runs`` entries, then read and ack them ``batch`` at a time."""
    async with Server(tmp / f"bare{batch}") as r:
        await ensure_group(r, "bare", "g")
        payload = encode(TriggerRun(task="noop"))
        t0 = time.time()
        await pipelined(r, "bare", [payload] * args.runs)
        done = 0
        while done < args.runs:
            reply: Any = await r.xreadgroup("g", "c", {"bare": ">"}, count=batch, block=1000)
            ids = [eid for _, items in reply for eid, _ in items]
            await r.xack("bare", "g", *ids)
            done += len(ids)
        seconds = time.time() - t0
    how = "one by one" if batch == 1 else f"batched ({batch})"
    return Figures(f"bare redis-py, {how}", args.runs / seconds)


async def watchkeepers(tmp: Path, only: set[str], args: Any, round_: int) -> list[Figures]:
    """Split and ``up``, each from ``--against`` (before) and from this tree (after): in
    that order in odd rounds, the other way round in even ones (on this kind of host the
    tree run second was the slower in 10 of 12 pairings, by up to 36 %; compare over an
    even number of rounds)."""
    trees = ([("before ", args.against)] if args.against else []) + [("", ROOT)]
    if round_ % 2 == 0:
        trees.reverse()
    shapes = [("split (3 procs)", ["scheduler", "executor", "reporter"]), ("up (1 proc)", ["up"])]
    rows = []
    for shape, services in shapes:
        if shape.split()[0] not in only:
            continue
        for label, tree in trees:
            name = f"{label}watchkeeper {shape}"
            rows.append(await watchkeeper(tmp, name, services, args, Path(tree)))
    return rows


def summary(name: str, rounds: list[tuple[Figures, float | None]]) -> str:
    """One scenario over the rounds: rate, ratio to taskiq's rate of the same round, p99s."""

    def span(values: list[float], fmt: str) -> str:
        if not values:
            return "-"
        low, mid, high = (fmt.format(v) for v in (min(values), statistics.median(values),
                                                   max(values)))  # fmt: skip
        return f"{mid} ({low}–{high})"

    rates = [f.rate for f, _ in rounds]
    ratios = [f.rate / ref for f, ref in rounds if ref]
    paced = [pct(f.latency_ms, 0.99) for f, _ in rounds if f.latency_ms]
    urgent = [pct(f.urgent_ms, 0.99) for f, _ in rounds if f.urgent_ms]
    parts = [f"{span(rates, '{:,.0f}')} runs/s"]
    if ratios:
        parts.append(f"{span(ratios, '{:.2f}')}× taskiq")
    if paced:
        parts.append(f"paced p99 {span(paced, '{:.2f}')} ms")
    if urgent:
        parts.append(f"critical p99 {span(urgent, '{:.2f}')} ms")
    return f"{name:<35} " + ", ".join(parts)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000, help="throughput burst size")
    parser.add_argument("--critical-runs", type=int, default=5_000,
                        help="the burst critical triggers overtake")  # fmt: skip
    parser.add_argument("--latency", type=int, default=1_000, help="triggers at 200/s")
    parser.add_argument("--repeat", type=int, default=1, help="rounds (figures are noisy)")
    parser.add_argument("--only", choices=["split", "up", "peers"], action="append")
    parser.add_argument(
        "--warmup",
        type=int,
        default=0,
        help="paced triggers sent (not measured) before the latency phase",
    )
    parser.add_argument(
        "--hops",
        action="store_true",
        help="time each hop of trigger → start (bench/support/hoptrace.py)",
    )
    parser.add_argument("--against", metavar="DIR",
                        help="also run Watchkeeper from this tree (before/after; the order "
                             "alternates from round to round)")  # fmt: skip
    args = parser.parse_args()
    only = set(args.only or ["split", "up", "peers"])
    seen: dict[str, list[tuple[Figures, float | None]]] = {}
    for round_ in range(1, args.repeat + 1):
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            print(f"-- round {round_}: {args.runs:,} runs, {args.latency:,} paced triggers")
            taskiq = await taskiq_peer(tmp, args) if "peers" in only else None
            reference = taskiq.rate if taskiq else None
            rows = [taskiq] if taskiq else []
            if "peers" in only:
                rows += [await bare_peer(tmp, args, 1), await bare_peer(tmp, args, 100)]
            rows += await watchkeepers(tmp, only, args, round_)
            for row in rows:
                print("\n".join(row.lines(reference)))
                seen.setdefault(row.name, []).append((row, None if row is taskiq else reference))
    if args.repeat > 1:
        print(f"-- over {args.repeat} rounds: median (range)")
        for name, rounds in seen.items():
            print(summary(name, rounds))
    print(f"(host: {os.cpu_count()} cores, Python {sys.version.split()[0]})")


if __name__ == "__main__":
    asyncio.run(main())
