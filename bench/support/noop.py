"""The benchmarks' handler plugin (``executor.plugins: [bench.support.noop]``): nothing at
all, except noting when it started (``metrics.started``, epoch seconds) so the bench can
measure trigger → handler start from the results stream without another write."""

from __future__ import annotations

import time
from typing import Any

from services.executor.handlers.base import Outcome, RunContext
from services.executor.handlers.registry import handler


@handler("bench_noop")
async def noop(ctx: RunContext, params: Any) -> Outcome:
    """Start, note the instant, finish."""
    return Outcome(message="noop", metrics={"started": time.time()})
