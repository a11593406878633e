"""``watchkeeper cleanup``: remove Watchkeeper's own data past its retention, now.

The same pass as the built-in ``retention`` handler (streams trimmed by time, result
hashes, daily metrics, stored reports, rollback points; the consumed streams to
``streams.keep``, each counted on its own line), plus the PostgreSQL archive's
rows when one is configured. Defaults come from the config: ``results.retention``,
``reports.retention``, ``executor.rollback_max_age``, ``database.retention``.
"""

from __future__ import annotations

from typing import Any

import click

from services.cli.config import CONFIG_OPTION, cli_clock, load, with_redis
from services.cli.exits import Unreachable
from services.executor.handlers.retention import DAY_S, RetentionParams, run_retention
from services.reporter.archive.store import ArchiveStore, ArchiveUnavailable
from shared.config.models import Config
from shared.contract.keys import Keys
from shared.runtime.clock import Clock
from shared.runtime.redis import Redis

DAYS = click.FloatRange(min=0, min_open=True)


async def _archive(config: Config, days: float, now: float, *, dry_run: bool) -> dict[str, int]:
    if not config.database.url:
        return {}
    store = ArchiveStore(config.database.url, config.namespace)
    try:
        pruned = await store.prune(now - days * DAY_S, dry_run=dry_run)
    except ArchiveUnavailable as exc:
        raise Unreachable(f"archive unreachable: {exc}") from None
    finally:
        await store.close()
    return {f"archived_{table}": n for table, n in pruned.items()}


async def _cleanup(
    r: Redis, keys: Keys, config: Config, clock: Clock, params: RetentionParams,
    archive_days: float | None,
) -> dict[str, int]:  # fmt: skip
    done = await run_retention(r, keys, clock, params, dry_run=params.dry_run)
    if archive_days is not None:
        done |= await _archive(config, archive_days, clock.time(), dry_run=params.dry_run)
    return done


@click.command("cleanup")
@click.option("--history-days", type=DAYS, help="Keep results this long [results.retention].")
@click.option("--rollback-days", type=DAYS, help="Keep rollback points this long "
              "[executor.rollback_max_age].")  # fmt: skip
@click.option("--reports-days", type=DAYS, help="Keep reports this long [reports.retention].")
@click.option("--archive-days", type=DAYS, help="Keep archived rows this long [database.retention; "
              "none: kept].")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Count what would go; remove nothing.")
@CONFIG_OPTION
def cleanup_command(config_path: str | None, dry_run: bool, **days: float | None) -> None:
    """Remove results, history, metrics, reports, rollback points and archived rows past
    their retention."""
    config = load(config_path).config
    params = RetentionParams(
        history_days=days["history_days"] or config.results.retention / DAY_S,
        reports_days=days["reports_days"] or config.reports.retention / DAY_S,
        rollback_days=days["rollback_days"] or config.executor.rollback_max_age / DAY_S,
        rollback_dir=config.executor.rollback_dir, streams_keep=config.streams.keep,
        dry_run=dry_run,
    )  # fmt: skip
    archive = days["archive_days"] or _days(config.database.retention)
    clock = cli_clock()
    done: dict[str, Any] = with_redis(
        config, lambda r, k: _cleanup(r, k, config, clock, params, archive)
    )
    verb = "would remove" if dry_run else "removed"
    for kind, n in done.items():
        click.echo(f"{verb:>12}  {n:>8}  {kind.replace('_', ' ')}")


def _days(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / DAY_S
