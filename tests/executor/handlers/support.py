"""A RunContext for handler tests, with a real logger and optional Redis and artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.executor.handlers import registry
from services.executor.handlers.base import Outcome, RunContext
from shared.contract.keys import Keys
from shared.runtime.clock import FakeClock
from shared.runtime.logging import get_logger
from shared.runtime.redis import Redis


def make_ctx(
    *,
    redis: Redis | None = None,
    keys: Keys | None = None,
    roots: tuple[Path, ...] = (),
    artifacts: Path | None = None,
    clock: FakeClock | None = None,
    dry_run: bool = False,
) -> RunContext:
    """A context as the executor builds one (progress goes nowhere)."""
    return RunContext(
        run_id="run-1", task="t", attempt=1, clock=clock or FakeClock(),
        log=get_logger("test"), redis=redis, keys=keys or Keys(),
        allowed_roots=tuple(str(p) for p in roots), dry_run=dry_run, artifacts_dir=artifacts,
    )  # fmt: skip


async def run_handler(name: str, ctx: RunContext, params: dict[str, Any]) -> Outcome:
    """Parse ``params`` through the registered spec and run it, as an attempt does."""
    spec = registry.get(name)
    assert spec is not None, f"handler {name} is not registered"
    return await spec.run(ctx, spec.parse_params(params))
