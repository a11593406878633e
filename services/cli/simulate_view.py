"""``watchkeeper schedule --from/--to``: the schedule simulation, printed.

The same pure simulation as ``GET|POST /api/v1/schedule/simulate``
(:mod:`shared.config.simulation`) with the same JSON answer. The tasks come from the
config file (a config not yet applied: Redis is not even opened) or from Redis, or the API
with ``--api`` (the running deployment: its definitions and paused tasks), simulated here
with this config's calendars and windows. Nothing is written either way.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import click
from rich.console import Group, RenderableType
from rich.text import Text

from services.cli import api_backend
from services.cli.api_client import ApiClient
from services.cli.config import with_backend
from services.cli.output import make_table
from services.cli.schedule_cmds import parse_instant
from shared.config import taskdefs
from shared.config.models import Config, TaskConfig
from shared.config.simulation import range_problem, simulate
from shared.contract.keys import Keys
from shared.runtime.redis import Redis, text
from shared.timing.schedules import InstantOutOfRange

SOURCES = ("file", "running")


def simulation_range(
    start: str | None, end: str | None, now: datetime
) -> tuple[datetime, datetime]:
    """``--from`` (default now) and ``--to`` (default a day later), checked as the API does."""
    first = parse_instant(start, "--from") if start else now
    last = parse_instant(end, "--to") if end else first + timedelta(days=1)
    problem = range_problem(first, last)
    if problem is not None:
        raise click.BadParameter(problem, param_hint="--to")
    return first, last


async def _running(r: Redis, keys: Keys) -> tuple[dict[str, TaskConfig], set[str]]:
    paused = {text(m) for m in await r.smembers(keys.schedule_paused)}
    return await taskdefs.load_all(r, keys), paused


async def _running_via_api(api: ApiClient) -> tuple[dict[str, TaskConfig], set[str]]:
    rows = await api_backend.task_rows(api)
    return {row.name: row.definition for row in rows}, {row.name for row in rows if row.paused}


def simulated(config: Config, source: str, start: datetime, end: datetime) -> dict[str, Any]:
    """The simulation's JSON answer for the file's tasks or the running ones."""
    paused: set[str] = set()
    if source == "running":
        tasks, paused = with_backend(config, _running, _running_via_api)
        config = config.model_copy(update={"tasks": tasks})
    try:
        result = simulate(config, start, end, paused=paused)
    except InstantOutOfRange as exc:
        raise click.BadParameter(str(exc), param_hint="--from") from None
    return result.as_dict(start, end, config.timezone)


def simulation_view(data: dict[str, Any]) -> RenderableType:
    """Fires as a table (conflicting ones marked ``!``), then every conflict."""
    rows = [(f["at"], f["local"], f["task"], _outcome(f),
             " ".join(f"!{c}" for c in f["conflicts"])) for f in data["fires"]]  # fmt: skip
    head = Text(f"{len(rows)} slots from {data['from']} to {data['to']} "
                f"(local: {data['timezone']}), {len(data['conflicts'])} conflicts")  # fmt: skip
    parts: list[RenderableType] = [head, make_table(("AT (UTC)", "LOCAL", "TASK", "OUTCOME",
                                                      "CONFLICTS"), rows)]  # fmt: skip
    parts += [Text(f"!{c['id']} {c['kind']} at {c['at']}: {c['message']}", style="yellow")
              for c in data["conflicts"]]  # fmt: skip
    if data["truncated"]:
        parts.append(Text("(cut short: too many fires; narrow the range)", style="yellow"))
    return Group(*parts)


def _outcome(fire: dict[str, Any]) -> str:
    if fire["outcome"] == "fired":
        return "fires"
    return f"{fire['outcome']} ({fire['cause']})" if fire["cause"] else fire["outcome"]
