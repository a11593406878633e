"""``retention``: the built-in daily clean-up of Watchkeeper's own data.

Trims history and event streams by time, deletes result hashes, daily metrics and stored
reports past their retention (:mod:`.retention_plan`), and prunes rollback points older
than ``rollback_days`` through the rollback store (records and preserved files). The
PostgreSQL archive prunes its own rows (``database.retention``). ``dry_run`` counts what
would go and removes nothing. Schedule it daily (see ``examples/watchkeeper.yml``); its
params mirror ``results.retention`` and ``reports.retention`` of the config, which
``watchkeeper cleanup`` reads directly.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from services.executor.handlers.base import HandlerError, Outcome, RunContext
from services.executor.handlers.kit import Params
from services.executor.handlers.registry import handler
from services.executor.handlers.retention_plan import RetentionPolicy, apply_retention
from services.executor.rollback import RollbackStore
from shared.config.models import Duration
from shared.contract.keys import Keys
from shared.runtime.clock import Clock
from shared.runtime.redis import Redis
from shared.runtime.rollbacks import select_prunable

DAY_S = 86_400.0


class RetentionParams(Params):
    """How many days each kind of data is kept."""

    history_days: float = Field(30.0, gt=0)
    reports_days: float | None = Field(365.0, gt=0)
    rollback_days: float | None = Field(None, gt=0)
    rollback_dir: str = "data/rollbacks"
    streams_keep: Duration = 3600.0
    """Acknowledged entries of the consumed streams are kept this long (``streams.keep``)."""
    dry_run: bool = False


async def prune_rollbacks(
    store: RollbackStore, max_age_s: float, now: float, *, dry_run: bool
) -> int:
    """Rollback points older than ``max_age_s``, removed unless ``dry_run``; how many."""
    if not dry_run:
        return len(await store.prune(max_age_s, max_count=1 << 30, max_total_bytes=1 << 62))
    points = await store.list(limit=1 << 30)
    entries = [(p.id, p.created_at, p.total_bytes) for p in points]
    return len(select_prunable(entries, now=now, max_age_s=max_age_s, max_count=1 << 30,
                               max_total_bytes=1 << 62))  # fmt: skip


async def run_retention(
    r: Redis, keys: Keys, clock: Clock, params: RetentionParams, *, dry_run: bool
) -> dict[str, int]:
    """Everything past retention removed (or, with ``dry_run``, counted), by kind."""
    now = clock.time()
    policy = RetentionPolicy(
        history_s=params.history_days * DAY_S,
        reports_s=None if params.reports_days is None else params.reports_days * DAY_S,
        streams_keep_s=params.streams_keep,
    )
    done = await apply_retention(r, keys, policy, now, dry_run=dry_run)
    if params.rollback_days is not None:
        store = RollbackStore(r, keys, Path(params.rollback_dir), clock)
        max_age_s = params.rollback_days * DAY_S
        done["rollback_points"] = await prune_rollbacks(store, max_age_s, now, dry_run=dry_run)
    return done


@handler("retention", params=RetentionParams)
async def retention(ctx: RunContext, params: RetentionParams) -> Outcome:
    """Remove Watchkeeper's own data past its retention."""
    if ctx.redis is None:
        raise HandlerError("retention needs the executor's Redis connection")
    dry_run = params.dry_run or ctx.dry_run
    async with ctx.step("retention") as step:
        done = await run_retention(ctx.redis, ctx.keys, ctx.clock, params, dry_run=dry_run)
        step.count(**done)
    verb = "would remove" if dry_run else "removed"
    summary = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in done.items())
    return Outcome(message=f"{verb} {summary}", details={"dry_run": dry_run, **done},
                   metrics={"items_processed": sum(done.values())})  # fmt: skip
