"""``watchkeeper history [TASK]``: past results, from the archive or from Redis.

The PostgreSQL archive holds everything for as long as ``database.retention`` says;
Redis holds the capped history streams (``{ns}:history``, ``{ns}:history:<task>``). The
archive is read when it is configured and reachable, Redis otherwise (saying so).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import click
from rich.table import Table

from services.cli.api_client import ApiClient
from services.cli.config import CONFIG_OPTION, cli_clock, load, with_backend
from services.cli.output import emit, note, output_option
from services.reporter.archive.store import HISTORY_FIELDS, ArchiveStore, ArchiveUnavailable
from shared.config.models import Config
from shared.contract.codec import EventDecodeError, decode, event_body
from shared.contract.events import RESULT_STATUSES, TaskResult
from shared.contract.keys import Keys
from shared.runtime.redis import Redis, text
from shared.timing.durations import parse_duration

PAGE: Final = 500
"""History entries read per request (the API's largest page too)."""
STATUS_STYLE: Final = {"succeeded": "green", "failed": "red", "timed_out": "red",
                       "dead_lettered": "red", "rolled_back": "yellow"}  # fmt: skip


async def redis_history(
    r: Redis, keys: Keys, *, since: float, task: str | None, status: str | None, limit: int
) -> list[dict[str, Any]]:
    """Newest first, from the history stream(s): entries finished at or after ``since``."""
    stream = keys.task_history(task) if task else keys.history
    out: list[dict[str, Any]] = []
    high = "+"
    while len(out) < limit:
        # Entry ids are the reporter's record times, never earlier than the finish times.
        page: Any = await r.xrevrange(stream, max=high, min=int(since * 1000), count=PAGE)
        for _, fields in page:
            row = _row(fields)
            if row and row["finished_at"] >= since and status in (None, row["status"]):
                out.append(row)
        if len(page) < PAGE:
            break
        high = "(" + text(page[-1][0])
    return out[:limit]


def _row(fields: Any) -> dict[str, Any] | None:
    try:
        event = decode(fields)
    except EventDecodeError:
        return None
    if not isinstance(event, TaskResult):
        return None
    return history_row(event_body(event))


def history_row(body: dict[str, Any]) -> dict[str, Any]:
    """One row of ``history`` from a result's body (as on the wire, or as the API shows it)."""
    row = {name: body.get(name) for name in HISTORY_FIELDS}
    steps = (body.get("details") or {}).get("steps")
    row["steps"] = steps if isinstance(steps, list) else []
    return row


async def api_history(
    api: ApiClient, *, since: float, task: str | None, status: str | None, limit: int
) -> list[dict[str, Any]]:
    """The :func:`redis_history` twin: ``GET /api/v1/runs`` page by page (the API reads
    the same history streams), entries finished at or after ``since``."""
    # Without an offset the API reads UTC (and a "+" need not survive the query string).
    start = datetime.fromtimestamp(since, UTC).replace(tzinfo=None).isoformat()
    query = {"task": task, "status": status, "since": start}
    out: list[dict[str, Any]] = []
    cursor = None
    while len(out) < limit:
        page = await api.get("/api/v1/runs", **query, limit=PAGE, before=cursor)
        out += [history_row(item) for item in page["items"] if item["finished_at"] >= since]
        cursor = page["next"]
        if cursor is None:
            break
    return out[:limit]


async def read_history(
    r: Redis, keys: Keys, config: Config, **query: Any
) -> tuple[str, list[dict[str, Any]]]:
    """``(source, rows)``: the archive when configured and reachable, else Redis."""
    if config.database.url:
        store = ArchiveStore(config.database.url, config.namespace)
        try:
            return "archive", await store.history(**query)
        except ArchiveUnavailable as exc:
            click.echo(f"archive unreachable ({exc}); reading Redis", err=True)
        finally:
            await store.close()
    return "redis", await redis_history(r, keys, **query)


async def _via_api(
    api: ApiClient, config: Config, query: dict[str, Any]
) -> tuple[str, list[dict[str, Any]]]:
    if config.database.url:
        note("through the API, history comes from Redis's history streams (not the archive)")
    return "redis", await api_history(api, **query)


def _stamp(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def steps_text(steps: list[dict[str, Any]]) -> str:
    """A run's steps on one line each: ``✓ scan 0.1s (files=3) 3 files``."""
    marks = {"succeeded": "✓", "failed": "✗", "skipped": "–", "running": "…"}
    lines = []
    for step in steps:
        counts = ", ".join(f"{k}={v:g}" for k, v in (step.get("counts") or {}).items())
        parts = [marks.get(step.get("status", ""), "?"), str(step.get("name", "")),
                 f"{float(step.get('duration_s') or 0):.1f}s", f"({counts})" if counts else "",
                 str(step.get("message") or "")]  # fmt: skip
        lines.append(" ".join(p for p in parts if p))
    return "\n".join(lines)


def render_table(source: str, rows: list[dict[str, Any]], *, steps: bool = False) -> Table:
    """A Rich table for people (UTC times); ``steps`` adds what each run did."""
    table = Table(title=f"{len(rows)} result(s) from {source}", title_justify="left")
    columns = ["finished (UTC)", "task", "run", "try", "status", "duration", "message"]
    for column in [*columns, "steps"] if steps else columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        style = STATUS_STYLE.get(row["status"], "")
        message = (row.get("error") or {}).get("message") or row["message"]
        shown = f"[{style}]{row['status']}[/]" if style else row["status"]
        cells = [_stamp(row["finished_at"]), row["task"], row["run_id"], str(row["attempt"]),
                 shown, f"{row['duration_s']:.1f}s", message or ""]  # fmt: skip
        table.add_row(*cells, *([steps_text(row.get("steps") or [])] if steps else []))
    return table


@click.command("history")
@click.argument("task", required=False)
@click.option("--since", default="90d", show_default=True, help="How far back (30m, 7d, 90d).")
@click.option("--status", type=click.Choice(RESULT_STATUSES), help="Only results with this status.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--steps", is_flag=True, help="Show what each run did, step by step (also -o wide).")
@output_option
@CONFIG_OPTION
def history_command(
    task: str | None, since: str, status: str | None, limit: int, steps: bool, output: str,
    config_path: str | None,
) -> None:  # fmt: skip
    """Past results, newest first (the PostgreSQL archive when configured, else Redis)."""
    try:
        since_s = cli_clock().time() - parse_duration(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    config = load(config_path).config
    query = {"since": since_s, "task": task, "status": status, "limit": limit}
    source, rows = with_backend(config, lambda r, k: read_history(r, k, config, **query),
                                lambda api: _via_api(api, config, query))  # fmt: skip
    emit({"source": source, "results": rows}, output,
         lambda wide: render_table(source, rows, steps=steps or wide))  # fmt: skip
