"""``system_health_check``: CPU, memory, disk and load via psutil, with a health score."""

from __future__ import annotations

import asyncio
import os

import psutil
from pydantic import BaseModel, ConfigDict, Field

from services.executor.handlers.base import Outcome, RunContext
from services.executor.handlers.health_score import breaches, health_score
from services.executor.handlers.registry import handler


class HealthParams(BaseModel):
    """Thresholds in percent (defaults from the trading-ops playbook) and disks to watch."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    cpu_threshold: float = Field(80.0, gt=0, le=100)
    memory_threshold: float = Field(85.0, gt=0, le=100)
    disk_threshold: float = Field(90.0, gt=0, le=100)
    disk_paths: tuple[str, ...] = ("/",)
    cpu_sample_s: float = Field(0.5, ge=0.05, le=10)


def _disk_usage(paths: tuple[str, ...]) -> dict[str, float]:
    return {p: psutil.disk_usage(p).percent for p in paths if os.path.exists(p)}


@handler("system_health_check", params=HealthParams)
async def system_health_check(ctx: RunContext, params: HealthParams) -> Outcome:
    """Sample resources, score them, and name every threshold breached."""
    cpu = await asyncio.to_thread(psutil.cpu_percent, interval=params.cpu_sample_s)
    memory = psutil.virtual_memory()
    disks = await asyncio.to_thread(_disk_usage, params.disk_paths)
    load1, load5, load15 = psutil.getloadavg()
    usage = {"cpu": cpu, "memory": memory.percent, "disk": max(disks.values(), default=0.0)}
    thresholds = {
        "cpu": params.cpu_threshold,
        "memory": params.memory_threshold,
        "disk": params.disk_threshold,
    }
    score = health_score(usage, thresholds)
    over = breaches(usage, thresholds)
    message = f"health score {score:.0f}/100"
    if over:
        message += f"; above threshold: {', '.join(over)}"
    return Outcome(
        message=message,
        details={"disks": disks, "breaches": over, "thresholds": thresholds,
                 "memory_available_bytes": memory.available, "cpu_count": psutil.cpu_count()},
        metrics={"health_score": score, "cpu_percent": cpu, "memory_percent": memory.percent,
                 "disk_percent": usage["disk"], "load_1m": load1, "load_5m": load5,
                 "load_15m": load15, "items_processed": 1},
    )  # fmt: skip
