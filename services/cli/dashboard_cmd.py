"""``watchkeeper dashboard``: a live terminal view of the deployment, read from Redis (or
the API with ``--api``).

Four sections, redrawn every ``--interval`` seconds with Rich Live: health (as
``status``), running tasks with their progress, upcoming fires, recent results. Each
frame is read whole (:class:`Frame`) by one of two twins, then drawn.
``--once`` prints one frame and exits (scripts, tests). Ctrl-C or SIGTERM stop it
cleanly: the signal sets an event the refresh loop waits on, so the last frame stays on
screen and the connection is closed.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

import click
from rich.console import Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from services.cli import api_backend
from services.cli.api_client import ApiClient
from services.cli.config import CONFIG_OPTION, cli_clock, load, with_backend
from services.cli.output import console, make_table, note, stamp, styled_status
from services.cli.snapshot import recent_results, upcoming
from services.cli.status_cmd import api_health, health_view
from shared.contract.events import TaskResult
from shared.contract.keys import Keys
from shared.contract.running import RunningRun, running
from shared.runtime.clock import Clock
from shared.runtime.health import Health, read_health
from shared.runtime.loop import wait_set
from shared.runtime.redis import Redis, text

ROWS: Final = 10
"""Rows of the upcoming and recent sections."""
SECTIONS: Final = ("Health", "Running", "Upcoming fires", "Recent results")


@dataclass(frozen=True, slots=True)
class Frame:
    """What one screen shows, read at ``now``."""

    now: float
    health: Health
    runs: list[RunningRun]
    upcoming: list[tuple[str, float]]
    recent: list[TaskResult]


async def read_frame(r: Redis, keys: Keys, clock: Clock) -> Frame:
    """One frame, read fresh from Redis."""
    now = clock.now().timestamp()
    tasks = sorted(text(t) for t in await r.hkeys(keys.taskdefs))
    return Frame(now, await read_health(r, keys, now), await running(r, keys, tasks),
                 await upcoming(r, keys, ROWS), await recent_results(r, keys, ROWS))  # fmt: skip


async def api_frame(api: ApiClient, clock: Clock) -> Frame:
    """One frame, read fresh through the API (its status, running runs, the tasks' next
    fires and the history)."""
    runs = (await api.get("/api/v1/runs/running"))["items"]
    fires = [(s["name"], s["next_fire"]) for s in await api_backend.task_summaries(api)
             if s["next_fire"] is not None]  # fmt: skip
    recent = (await api.get("/api/v1/runs", limit=ROWS))["items"]
    return Frame(clock.now().timestamp(), await api_health(api),
                 [RunningRun.from_dict(run) for run in runs],
                 sorted(fires, key=lambda f: (f[1], f[0]))[:ROWS],
                 [api_backend.result_of(item) for item in recent])  # fmt: skip


def draw(f: Frame) -> RenderableType:
    """One full screen of the dashboard."""
    bodies = (health_view(f.health), _running(f.runs), _upcoming(f.upcoming, f.now),
              _recent(f.recent))  # fmt: skip
    title = Text(f"watchkeeper {f.health.namespace}  {stamp(f.now)}", style="bold")
    panels = (Panel(b, title=t, title_align="left") for t, b in zip(SECTIONS, bodies, strict=True))
    return Group(title, *panels)


def _running(runs: list[RunningRun]) -> RenderableType:
    if not runs:
        return Text("nothing running", style="dim")
    table = Table("TASK", "RUN", "PROGRESS", "", "NOTE", box=None, header_style="bold")
    for run in runs:
        p = run.progress
        percent = None if p is None else p.percent
        if p is not None and percent is None and p.total:
            percent = 100 * p.done / p.total
        bar = ProgressBar(total=100, completed=percent or 0, width=24, pulse=percent is None)
        shown = "-" if percent is None else f"{percent:.0f}%"
        table.add_row(Text(run.task), Text(run.run_id), bar, Text(shown),
                      Text("" if p is None else p.note))  # fmt: skip
    return table


def _upcoming(pairs: list[tuple[str, float]], now: float) -> RenderableType:
    if not pairs:
        return Text("nothing scheduled", style="dim")
    rows = [(stamp(at), task, _in(at - now)) for task, at in pairs]
    return make_table(("AT (UTC)", "TASK", "IN"), rows)


def _in(seconds: float) -> str:
    if seconds <= 0:
        return "due"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _recent(results: list[TaskResult]) -> RenderableType:
    if not results:
        return Text("no results yet", style="dim")
    rows = [(stamp(res.finished_at), res.task, styled_status(res.status),
             f"{res.duration_s:.2f} s", res.message) for res in results]  # fmt: skip
    return make_table(("FINISHED", "TASK", "STATUS", "DURATION", "MESSAGE"), rows)


async def _live(read: Callable[[], Awaitable[Frame]], interval_s: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    first = await read()
    note(f"dashboard of {first.health.namespace}: refreshing every {interval_s:g} s, "
         "Ctrl-C to quit")  # fmt: skip
    with Live(draw(first), console=console(), auto_refresh=False) as live:
        while True:
            if await wait_set(stop, interval_s):
                return
            live.update(draw(await read()), refresh=True)


@click.command()
@CONFIG_OPTION
@click.option("--once", is_flag=True, help="Print one frame and exit.")
@click.option("--interval", "interval_s", default=2.0, show_default=True,
              type=click.FloatRange(min=0.2), help="Seconds between refreshes.")  # fmt: skip
def dashboard(config_path: str | None, once: bool, interval_s: float) -> None:
    """A live terminal view: health, running tasks, upcoming fires, recent results."""
    config = load(config_path).config
    clock = cli_clock()
    if once:
        frame = with_backend(config, lambda r, k: read_frame(r, k, clock),
                             lambda api: api_frame(api, clock))  # fmt: skip
        console().print(draw(frame))
        return
    with_backend(config, lambda r, k: _live(lambda: read_frame(r, k, clock), interval_s),
                 lambda api: _live(lambda: api_frame(api, clock), interval_s))  # fmt: skip
