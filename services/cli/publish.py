"""Sending run requests and reporting their outcome (``run``, ``trigger``, ``run-all``).

Each request is a ``trigger.run``/``trigger.emergency`` with a fresh correlation id.
``--wait`` follows the runs to their final results (:mod:`services.cli.follow_run`) and
exits 1 unless every one succeeded; ``--watch`` also draws their progress on stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
from collections.abc import Iterator, Sequence
from typing import Any

from rich.console import RenderableType
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from services.cli.config import with_redis
from services.cli.exits import CliError, NotFound, RunFailed
from services.cli.follow_run import Follower, ProgressFn, stream_tails
from services.cli.output import console, emit, make_table, styled_status
from shared.config.models import Config
from shared.contract.codec import encode, event_body
from shared.contract.events import TaskDue, TaskResult, TriggerEmergency, TriggerRun
from shared.contract.keys import Keys
from shared.contract.readmodel import RunProgress
from shared.contract.streams import trigger_stream
from shared.runtime.redis import Redis, text, xadd_once

Request = TriggerRun | TriggerEmergency


def requester() -> str:
    """``cli:<user>``, recorded with each request."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


async def known_tasks(r: Redis, keys: Keys, config: Config) -> set[str]:
    """Tasks defined in Redis or in this config (the scheduler may not have applied the
    file yet when a command runs right after it starts)."""
    stored = await r.hkeys(keys.taskdefs)
    return {text(name) for name in stored} | set(config.tasks)


async def _send(
    r: Redis, keys: Keys, config: Config, requests: Sequence[Request], follow: bool,
    progress: ProgressFn | None, timeout_s: float,
) -> dict[str, TaskResult]:  # fmt: skip
    unknown = sorted({q.task for q in requests} - await known_tasks(r, keys, config))
    if unknown:
        raise NotFound(f"unknown task(s): {', '.join(unknown)}")
    since = await stream_tails(r, keys)
    for request in requests:
        await xadd_once(r, trigger_stream(keys, request), encode(request))
    if not follow:
        return {}
    follower = Follower(r, keys, since, [q.correlation_id or "" for q in requests])
    try:
        async with asyncio.timeout(timeout_s):
            return await follower.until_done(progress)
    except TimeoutError:
        raise CliError(f"no result within {timeout_s:g} s") from None


def send(
    config: Config, requests: Sequence[Request], *, wait: bool, watch: bool, timeout_s: float
) -> dict[str, TaskResult]:
    """Publish ``requests``; with ``wait``/``watch`` return the final result of each run
    by correlation id (``watch`` draws progress bars on stderr meanwhile)."""
    with _bars(watch) as bars:
        return with_redis(config, lambda r, k: _send(
            r, k, config, requests, wait or watch, bars, timeout_s), wait_s=5.0)  # fmt: skip


@contextlib.contextmanager
def _bars(watch: bool) -> Iterator[ProgressFn | None]:
    if not watch:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[note]}"),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console(stderr=True), transient=True) as bars:
        shown: dict[str, TaskID] = {}

        def update(due: TaskDue, progress: RunProgress | None) -> None:
            if due.run_id not in shown:
                shown[due.run_id] = bars.add_task(f"{due.task} {due.run_id}", total=None, note="")
            bars.update(shown[due.run_id], **_bar(progress))

        yield update


def _bar(progress: RunProgress | None) -> dict[str, Any]:
    if progress is None:
        return {"note": "waiting"}
    if progress.percent is not None:
        return {"completed": progress.percent, "total": 100.0, "note": progress.note}
    return {"completed": progress.done, "total": progress.total, "note": progress.note}


def report(requests: Sequence[Request], results: dict[str, TaskResult], output: str) -> None:
    """Print what was requested (or each final result); exit 1 unless every run waited for
    succeeded."""
    if not results:
        rows = [{"task": q.task, "correlation_id": q.correlation_id, "status": "requested"}
                for q in requests]  # fmt: skip
        emit(rows if len(rows) > 1 else rows[0], output, lambda _w: _requested_table(rows))
    else:
        bodies = [event_body(results[q.correlation_id or ""]) for q in requests]
        emit(bodies if len(bodies) > 1 else bodies[0], output, lambda w: _result_table(bodies, w))
    failed = [r.task for r in results.values() if r.status != "succeeded"]
    if failed:
        raise RunFailed(f"{len(failed)} run(s) did not succeed: {', '.join(sorted(failed))}")


def _requested_table(rows: list[dict[str, Any]]) -> RenderableType:
    return make_table(("TASK", "STATUS", "CORRELATION ID"),
                      [(q["task"], q["status"], q["correlation_id"]) for q in rows])  # fmt: skip


def _result_table(bodies: list[dict[str, Any]], wide: bool) -> RenderableType:
    columns = ["TASK", "STATUS", "DURATION", "RUN", "MESSAGE"]
    rows: list[list[Any]] = [[b["task"], styled_status(b["status"]), f"{b['duration_s']:.2f} s",
                              b["run_id"], b["message"]] for b in bodies]  # fmt: skip
    if wide:
        columns += ["ATTEMPT", "EXECUTOR"]
        rows = [[*row, b["attempt"], b["executor"]] for row, b in zip(rows, bodies, strict=True)]
    return make_table(columns, rows)
