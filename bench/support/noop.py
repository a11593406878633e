"""The benchmarks' handler plugin (``executor.plugins: [bench.support.noop]``): nothing at
all, except noting when it started (``metrics.started``, epoch seconds) so the bench can
measure trigger → handler start from the results stream without another write, and
sleeping ``params.sleep_ms`` when given (a run that holds its slot a while)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from services.executor.handlers.base import Outcome, RunContext
from services.executor.handlers.registry import handler


@handler("bench_noop")
async def noop(ctx: RunContext, params: Any) -> Outcome:
    """Start, note the instant, sleep ``sleep_ms`` if asked, finish."""
    started = time.time()
    if isinstance(params, dict) and params.get("sleep_ms"):
        await asyncio.sleep(float(params["sleep_ms"]) / 1000)
    return Outcome(message="noop", metrics={"started": started})
