"""``watchkeeper status`` (is the deployment healthy) and ``schedule`` (what fires next)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

import click
from click.core import ParameterSource
from rich.console import Group, RenderableType
from rich.text import Text

from services.cli import api_backend
from services.cli.api_client import ApiClient
from services.cli.config import CONFIG_OPTION, cli_clock, load, with_backend
from services.cli.output import emit, make_table, note, output_option, stamp
from services.cli.simulate_view import SOURCES, simulated, simulation_range, simulation_view
from services.cli.snapshot import TaskRow, task_rows
from shared.config.catalog import Catalog, preview_schedule
from shared.config.models import Config
from shared.contract.keys import Keys
from shared.runtime.health import Health, read_health
from shared.runtime.redis import Redis
from shared.timing.triggers import TriggerSpecError

MAX_FIRES: Final = 1_000
"""A 5-second interval over a day would be 17,280 rows: enough is enough."""
UPCOMING_PAGE: Final = 500
"""The most fires ``GET /schedule/upcoming`` gives in one answer."""


@click.command()
@CONFIG_OPTION
@output_option
def status(config_path: str | None, output: str) -> None:
    """Scheduler leader, executors alive, due and queued runs, alerts, Redis risks."""
    config = load(config_path).config
    now = cli_clock().now().timestamp()
    health = with_backend(config, lambda r, k: read_health(r, k, now), api_health)
    emit(health.as_dict(), output, lambda wide: health_view(health, wide))


async def api_health(api: ApiClient) -> Health:
    """``GET /api/v1/status``: the API's own reading (its clock says what is due)."""
    return Health.from_dict(await api.get("/api/v1/status"))


def health_view(h: Health, wide: bool = False) -> RenderableType:
    """The health facts as a two-column table, then the warnings (also the dashboard's)."""
    leader = "none" if h.leader is None else f"{h.leader} (lease {h.leader_ttl_s or 0:.1f} s)"
    queued = ", ".join(f"{q.priority} {q.waiting}+{q.in_flight}" for q in h.queues)
    facts: list[tuple[str, Any]] = [
        ("namespace", h.namespace), ("scheduler leader", leader),
        ("executors alive", len(h.executors)),
        ("tasks", f"{h.tasks} ({h.paused} paused)"), ("due now", h.due),
        ("queued (waiting+in flight)", queued), ("retries pending", h.retries),
        ("active alerts", h.alerts or "none"),
        ("redis", (f"{h.redis.version}, policy {h.redis.maxmemory_policy}, "
                   f"aof {h.redis.aof}, save {h.redis.rdb_save!r}")),
    ]  # fmt: skip
    if wide:
        facts += [(f"executor {b.id}", f"{b.host} pid {b.pid} {b.inflight}/{b.max_concurrent}")
                  for b in h.executors]  # fmt: skip
    warnings = [Text(f"warning: {w}", style="yellow") for w in h.warnings()]
    return Group(make_table(("", ""), facts, header=False), *warnings)


@click.command()
@CONFIG_OPTION
@click.option("--hours", type=float, help="How far ahead (default 24).")
@click.option(
    "--from",
    "start",
    help="Simulate from this ISO 8601 date or instant (UTC without an offset; default now).",
)
@click.option(
    "--to", "end", help="Simulate up to here (default a day after --from; at most 31 days)."
)
@click.option(
    "--source",
    type=click.Choice(SOURCES),
    help="Tasks to simulate: the config "
    "file's (default when -c/--config is given) or the running ones in Redis.",
)
@output_option
def schedule(
    config_path: str | None, hours: float | None, start: str | None, end: str | None,
    source: str | None, output: str,
) -> None:  # fmt: skip
    """Upcoming fires of every enabled task in Redis over the next --hours, in time order.

    With --from/--to: every slot of every task over the range, simulated as the scheduler
    decides (windows, calendars, holidays, early closes) with conflicts marked; nothing is
    written to Redis.
    """
    if start or end or source:
        if hours is not None:
            raise click.UsageError("give --hours or --from/--to, not both")
        _simulate(config_path, start, end, source, output)
        return
    hours = 24.0 if hours is None else hours
    if hours <= 0:
        raise click.BadParameter("must be positive", param_hint="--hours")
    config = load(config_path).config
    now = cli_clock().now()
    horizon = now + timedelta(hours=hours)

    async def read(r: Redis, k: Keys) -> list[dict[str, Any]]:
        return upcoming_fires(config, await task_rows(r, k), now, horizon)

    async def via_api(api: ApiClient) -> list[dict[str, Any]]:
        # The API computes the fires with the running config (its zone and calendars,
        # which this machine may not have).
        return await api_upcoming(api, now, hours)

    fires = with_backend(config, read, via_api)
    emit(fires, output, lambda _w: _fires_table(fires, hours))


async def api_upcoming(api: ApiClient, now: datetime, hours: float) -> list[dict[str, Any]]:
    """``GET /schedule/upcoming`` from ``now``, in the rows ``upcoming_fires`` makes."""
    paused = {s["name"] for s in await api_backend.task_summaries(api) if s["paused"]}
    page = await api.get(
        "/api/v1/schedule/upcoming",
        hours=hours,
        limit=UPCOMING_PAGE,
        after=now.astimezone(UTC).replace(tzinfo=None).isoformat(),
    )  # UTC, no "+"
    if page["truncated"]:
        note(f"the API lists the first {UPCOMING_PAGE} fires; give fewer --hours for the rest")
    return [{"at": f["utc"], "task": f["task"], "local": f["local"],
             "in_window": f["in_window"], "paused": f["task"] in paused}
            for f in page["fires"]]  # fmt: skip


def _simulate(
    config_path: str | None, start: str | None, end: str | None, source: str | None, output: str
) -> None:
    given = click.get_current_context().get_parameter_source("config_path")
    source = source or ("file" if given is ParameterSource.COMMANDLINE else "running")
    first, last = simulation_range(start, end, cli_clock().now())
    data = simulated(load(config_path).config, source, first, last)
    emit(data, output, lambda _w: simulation_view(data))


def upcoming_fires(
    config: Config, rows: list[TaskRow], start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Every fire of every enabled task in ``[start, end)``, soonest first."""
    catalog = Catalog.from_config(config)
    fires, unread = [], []
    for row in rows:
        try:
            s = catalog.schedule(row.name, row.definition)
            found = [] if s is None else preview_schedule(s, start, MAX_FIRES, config.timezone)
        except (TriggerSpecError, ValueError, KeyError):
            unread.append(row.name)  # names a calendar this config lacks
            continue
        fires += [{"at": f.at.isoformat(), "task": row.name, "local": f.local.isoformat(),
                   "in_window": f.in_window, "paused": row.paused}
                  for f in found if f.at < end]  # fmt: skip
    if unread:
        note(
            f"left out (their calendar or window is not in this config; give the running "
            f"config with -c, or --api): {', '.join(unread)}"
        )
    return sorted(fires, key=lambda f: (f["at"], f["task"]))


def _fires_table(fires: list[dict[str, Any]], hours: float) -> RenderableType:
    if not fires:
        return f"no fires in the next {hours:g} h"
    rows = []
    for f in fires:
        note = (
            "paused"
            if f["paused"]
            else {None: "", True: "in window", False: "outside window"}[f["in_window"]]
        )
        rows.append((stamp(datetime.fromisoformat(f["at"]).timestamp()), f["task"],
                     f["local"], note))  # fmt: skip
    return make_table(("AT (UTC)", "TASK", "LOCAL", "NOTE"), rows)
