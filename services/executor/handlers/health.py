"""``system_health_check``: CPU, memory, swap, disks, load, open files, processes and Redis.

Resources come from psutil (open files from ``/proc/sys/fs/file-nr`` where it exists),
Redis memory from ``INFO memory`` and its latency from three PINGs (the median) over the
executor's own connection. The 0–100 score and its formula are in :mod:`.health_score`.
"""

from __future__ import annotations

import asyncio
import os
import statistics
from pathlib import Path
from typing import Any, Final

import psutil
from pydantic import Field
from redis.exceptions import RedisError

from services.executor.handlers.base import Outcome, RunContext
from services.executor.handlers.health_score import breaches, health_score, load_as_percent
from services.executor.handlers.kit import Params
from services.executor.handlers.probes import Probe, run_probes
from services.executor.handlers.registry import handler

FILE_NR: Final = Path("/proc/sys/fs/file-nr")
REDIS_TIMEOUT_S: Final = 5.0
LOAD_AT_THRESHOLD: Final = 50.0  # load_as_percent maps the load threshold here


class HealthParams(Params):
    """Thresholds in percent (defaults from the trading-ops playbook) and disks to watch."""

    cpu_threshold: float = Field(80.0, gt=0, le=100)
    memory_threshold: float = Field(85.0, gt=0, le=100)
    disk_threshold: float = Field(90.0, gt=0, le=100)
    disk_paths: tuple[str, ...] = ("/",)
    disk_thresholds: dict[str, float] = Field(default_factory=dict)
    swap_threshold: float = Field(80.0, gt=0, le=100)
    load_threshold: float = Field(1.5, gt=0)
    open_files_threshold: float = Field(80.0, gt=0, le=100)
    process_threshold: int | None = Field(None, ge=1)
    check_redis: bool = True
    redis_memory_threshold: float = Field(90.0, gt=0, le=100)
    redis_latency_ms_threshold: float = Field(50.0, gt=0)
    cpu_sample_s: float = Field(0.5, ge=0.05, le=10)
    probes: list[Probe] = Field(default_factory=list)
    """Service probes (HTTP, TCP, Redis; see :mod:`.probes`)."""


def _disk_usage(paths: tuple[str, ...]) -> dict[str, float]:
    return {p: psutil.disk_usage(p).percent for p in paths if os.path.exists(p)}


def _open_files() -> dict[str, float]:
    """System-wide open file handles and their limit (Linux); empty elsewhere."""
    try:
        allocated, _unused, limit = (int(v) for v in FILE_NR.read_text().split()[:3])
    except (OSError, ValueError):
        return {}
    return {"open_files": allocated, "open_files_max": limit,
            "open_files_percent": 100.0 * allocated / max(limit, 1)}  # fmt: skip


def _sample(params: HealthParams) -> dict[str, Any]:
    """Every local figure (blocking: the CPU sample waits ``cpu_sample_s``)."""
    load1, load5, load15 = psutil.getloadavg()
    return {
        "cpu": psutil.cpu_percent(interval=params.cpu_sample_s),
        "memory": psutil.virtual_memory(), "swap": psutil.swap_memory(),
        "disks": _disk_usage(params.disk_paths), "load": (load1, load5, load15),
        "cores": psutil.cpu_count() or 1, "processes": len(psutil.pids()), **_open_files(),
    }  # fmt: skip


async def _redis(ctx: RunContext, params: HealthParams) -> dict[str, Any]:
    """Redis memory and latency, or ``reachable: False``; empty when not checked."""
    if ctx.redis is None or not params.check_redis:
        return {}
    try:
        async with asyncio.timeout(REDIS_TIMEOUT_S):
            rtts = []
            for _ in range(3):
                start = ctx.clock.monotonic()
                await ctx.redis.ping()
                rtts.append(ctx.clock.monotonic() - start)
            info = await ctx.redis.info("memory")
    except (RedisError, OSError, TimeoutError) as exc:
        return {"reachable": False, "error": type(exc).__name__}
    used, limit = int(info["used_memory"]), int(info.get("maxmemory", 0))
    return {"reachable": True, "latency_ms": round(statistics.median(rtts) * 1000, 3),
            "used_memory": used, "maxmemory": limit,
            "memory_percent": 100.0 * used / limit if limit else None}  # fmt: skip


def _usage(
    sample: dict[str, Any], params: HealthParams
) -> tuple[dict[str, float], dict[str, float]]:
    """(measured values, their thresholds) on the scales :mod:`.health_score` reads."""
    usage: dict[str, float] = {"cpu": sample["cpu"], "memory": sample["memory"].percent,
                               "swap": sample["swap"].percent,
                               "load": load_as_percent(sample["load"][0] / sample["cores"],
                                                       params.load_threshold)}  # fmt: skip
    limits: dict[str, float] = {"cpu": params.cpu_threshold, "memory": params.memory_threshold,
                                "swap": params.swap_threshold, "load": LOAD_AT_THRESHOLD,
                                "disk": params.disk_threshold}  # fmt: skip
    for mount, percent in sample["disks"].items():
        usage[f"disk:{mount}"] = percent
        limits[f"disk:{mount}"] = params.disk_thresholds.get(mount, params.disk_threshold)
    if "open_files_percent" in sample:
        usage["open_files"] = sample["open_files_percent"]
        limits["open_files"] = params.open_files_threshold
    usage["processes"] = sample["processes"]
    if params.process_threshold is not None:
        limits["processes"] = params.process_threshold
    return usage, limits


def _redis_breaches(redis: dict[str, Any], params: HealthParams) -> list[str]:
    if not redis:
        return []
    if not redis["reachable"]:
        return ["redis_unreachable"]
    over = []
    if (redis["memory_percent"] or 0.0) > params.redis_memory_threshold:
        over.append("redis_memory")
    if redis["latency_ms"] > params.redis_latency_ms_threshold:
        over.append("redis_latency")
    return over


def _metrics(sample: dict[str, Any], redis: dict[str, Any], score: float) -> dict[str, Any]:
    load1, load5, load15 = sample["load"]
    metrics = {"health_score": score, "cpu_percent": sample["cpu"],
               "memory_percent": sample["memory"].percent,
               "disk_percent": max(sample["disks"].values(), default=0.0),
               "swap_percent": sample["swap"].percent, "load_1m": load1, "load_5m": load5,
               "load_15m": load15, "load_per_core": load1 / sample["cores"],
               "processes": sample["processes"], "items_processed": 1}  # fmt: skip
    if "open_files" in sample:
        metrics["open_files"] = sample["open_files"]
        metrics["open_files_percent"] = sample["open_files_percent"]
    if redis.get("reachable"):
        metrics["redis_latency_ms"] = redis["latency_ms"]
        metrics["redis_used_memory_bytes"] = redis["used_memory"]
    return metrics


async def _probes(ctx: RunContext, params: HealthParams) -> list[dict[str, Any]]:
    if not params.probes:
        return []
    async with ctx.step("probes") as step:
        probes = await run_probes(params.probes, ctx.clock)
        step.count(probes=len(probes), failed=sum(not p["ok"] for p in probes))
    return probes


@handler("system_health_check", params=HealthParams)
async def system_health_check(ctx: RunContext, params: HealthParams) -> Outcome:
    """Sample resources and Redis, score them, and name every threshold breached."""
    async with ctx.step("resources") as step:
        sample = await asyncio.to_thread(_sample, params)
        step.count(disks=len(sample["disks"]))
    async with ctx.step("redis") as step:
        redis = await _redis(ctx, params)
        if not redis:
            step.skip("no Redis to check")
    probes = await _probes(ctx, params)
    failed = [f"probe:{p['name']}" for p in probes if not p["ok"]]
    usage, limits = _usage(sample, params)
    over = breaches(usage, limits) + _redis_breaches(redis, params) + failed
    score = health_score(usage, limits, failed_probes=len(failed),
                         redis_breaches=len(_redis_breaches(redis, params)))  # fmt: skip
    message = f"health score {score:.0f}/100"
    if over:
        message += f"; above threshold: {', '.join(over)}"
    return Outcome(
        message=message,
        details={"disks": sample["disks"], "breaches": over, "thresholds": limits,
                 "usage": usage, "redis": redis, "probes": probes,
                 "memory_available_bytes": sample["memory"].available,
                 "swap_used_bytes": sample["swap"].used, "cpu_count": sample["cores"]},
        metrics=_metrics(sample, redis, score),
    )  # fmt: skip
