"""``watchkeeper dashboard``: a live terminal view of the deployment, read from Redis.

Four sections, redrawn every ``--interval`` seconds with Rich Live: health (as
``status``), running tasks with their progress, upcoming fires, recent results.
``--once`` prints one frame and exits (scripts, tests). Ctrl-C or SIGTERM stop it
cleanly: the signal sets an event the refresh loop waits on, so the last frame stays on
screen and the connection is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Final

import click
from rich.console import Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from services.cli.config import CONFIG_OPTION, cli_clock, load, with_redis
from services.cli.output import console, make_table, note, stamp, styled_status
from services.cli.snapshot import recent_results, upcoming
from services.cli.status_cmd import health_view
from shared.contract.events import TaskResult
from shared.contract.keys import Keys
from shared.contract.running import RunningRun, running
from shared.runtime.clock import Clock
from shared.runtime.health import read_health
from shared.runtime.redis import Redis, text

ROWS: Final = 10
"""Rows of the upcoming and recent sections."""
SECTIONS: Final = ("Health", "Running", "Upcoming fires", "Recent results")


async def frame(r: Redis, keys: Keys, clock: Clock) -> RenderableType:
    """One full screen of the dashboard, read fresh."""
    now = clock.now().timestamp()
    health = await read_health(r, keys, now)
    tasks = sorted(text(t) for t in await r.hkeys(keys.taskdefs))
    bodies = (health_view(health), _running(await running(r, keys, tasks)),
              _upcoming(await upcoming(r, keys, ROWS), now),
              _recent(await recent_results(r, keys, ROWS)))  # fmt: skip
    title = Text(f"watchkeeper {keys.ns}  {stamp(now)}", style="bold")
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


async def _live(r: Redis, keys: Keys, clock: Clock, interval_s: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    note(f"dashboard of {keys.ns}: refreshing every {interval_s:g} s, Ctrl-C to quit")
    with Live(await frame(r, keys, clock), console=console(), auto_refresh=False) as live:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)
            if stop.is_set():
                return
            live.update(await frame(r, keys, clock), refresh=True)


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
        console().print(with_redis(config, lambda r, k: frame(r, k, clock)))
        return
    with_redis(config, lambda r, k: _live(r, k, clock, interval_s))
