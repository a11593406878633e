"""The API twins of the Redis readers and senders the commands use.

Each function returns the same values as its Redis counterpart (``TaskRow``,
``TaskResult``), so a command prints the same output whichever way it went.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import quote

from services.cli.api_client import ApiClient
from services.cli.exits import CliError, NotFound
from services.cli.follow_run import is_final
from services.cli.snapshot import TaskRow
from shared.config.models import TaskConfig
from shared.contract.codec import decode, pack
from shared.contract.events import SCHEMA_VERSION, TaskResult, TriggerEmergency, TriggerRun
from shared.contract.readmodel import ScheduleState

Request = TriggerRun | TriggerEmergency
PAGE: Final = 500
POLL_S: Final = 0.5
"""How often ``--wait`` asks ``GET /runs/{run_id}`` (a run takes at least that long)."""


def task_path(task: str) -> str:
    """``/api/v1/tasks/{task}`` (the name quoted)."""
    return f"/api/v1/tasks/{quote(task, safe='')}"


async def task_rows(api: ApiClient, only: str | None = None) -> list[TaskRow]:
    """Every task (or just ``only``, none when unknown) as ``tasks list`` shows it."""
    if only is not None:
        detail = await api.request("GET", task_path(only), missing_ok=True)
        return [] if detail is None else [_row(detail)]
    return [_row(item) for item in await task_summaries(api, full=True)]


async def task_summaries(api: ApiClient, *, full: bool = False) -> list[dict[str, Any]]:
    """Every task's summary (``GET /tasks``, page by page), by name; with ``full``,
    each with its definition and state too."""
    items: list[dict[str, Any]] = []
    while True:
        page = await api.get("/api/v1/tasks", limit=PAGE, offset=len(items),
                             full="true" if full else "false")  # fmt: skip
        items += page["items"]
        if not page["items"] or len(items) >= page["total"]:
            return items


def _row(detail: dict[str, Any]) -> TaskRow:
    # The API shows ``paused`` as a JSON bool; the hash field it came from is 0/1.
    fields = {**detail["state"], "paused": "1" if detail["state"].get("paused") else "0"}
    state = ScheduleState.from_fields(fields)
    return TaskRow(detail["name"], TaskConfig.model_validate(detail["definition"]), state,
                   detail["next_fire"], bool(detail["state"].get("paused")))  # fmt: skip


async def task_action(api: ApiClient, task: str, action: str, body: Any = None) -> None:
    """``POST /tasks/{task}/{action}`` (enable, disable, pause, resume)."""
    await api.post(f"{task_path(task)}/{action}", body)


async def delete_task(api: ApiClient, task: str) -> None:
    """``DELETE /tasks/{task}``."""
    await api.request("DELETE", task_path(task))


def _post_of(request: Request) -> tuple[str, dict[str, Any]]:
    if isinstance(request, TriggerEmergency):
        return "/api/v1/runs/emergency", {"task": request.task, "reason": request.reason,
                                          "params": request.params}  # fmt: skip
    return "/api/v1/runs", {"task": request.task, "params": request.params,
                            "reason": request.reason}  # fmt: skip


async def send(
    api: ApiClient, requests: Sequence[Request], *, wait: bool, timeout_s: float
) -> tuple[list[Request], dict[str, TaskResult]]:
    """Request each run; return the requests with the correlation ids the API gave them
    and, with ``wait``, each run's final result by correlation id."""
    sent: list[Request] = []
    run_ids: dict[str, str] = {}
    for request in requests:
        path, body = _post_of(request)
        reply = await api.post(path, body)
        sent.append(_with_cid(request, reply["correlation_id"]))
        run_ids[reply["correlation_id"]] = reply["run_id"]
    return sent, await _finals(api, run_ids, timeout_s) if wait else {}


async def send_all(
    api: ApiClient, reason: str, *, wait: bool, timeout_s: float
) -> tuple[list[Request], dict[str, TaskResult]]:
    """``POST /runs/all``, then (``wait``) each run's final result."""
    reply = await api.post("/api/v1/runs/all", {"reason": reason})
    requested = reply["requested"]
    if not requested:
        raise NotFound("no enabled tasks in Redis (run `watchkeeper apply` first)")
    sent: list[Request] = [
        TriggerRun(task=q["task"], reason=reason, correlation_id=q["correlation_id"])
        for q in requested
    ]
    run_ids = {q["correlation_id"]: q["run_id"] for q in requested}
    return sent, await _finals(api, run_ids, timeout_s) if wait else {}


async def _finals(
    api: ApiClient, run_ids: dict[str, str], timeout_s: float
) -> dict[str, TaskResult]:
    """The final result of each run (by correlation id), within ``timeout_s``."""
    try:
        async with asyncio.timeout(timeout_s):
            return {cid: await final_result(api, run) for cid, run in run_ids.items()}
    except TimeoutError:
        raise CliError(f"no result within {timeout_s:g} s") from None


def _with_cid(request: Request, cid: str) -> Request:
    # The API makes its own correlation id; ours was never sent.
    return dataclasses.replace(request, correlation_id=cid)


async def final_result(api: ApiClient, run_id: str) -> TaskResult:
    """Poll ``GET /runs/{run_id}`` until the run has a result no retry will follow (404
    until the executor starts it, ``running`` meanwhile)."""
    path = f"/api/v1/runs/{quote(run_id, safe='')}"
    while True:
        body = await api.request("GET", path, missing_ok=True)
        if body is not None and body.get("status") != "running":
            result = result_of(body)
            if is_final(result):
                return result
        await asyncio.sleep(POLL_S)


def result_of(body: dict[str, Any]) -> TaskResult:
    """A result as the API shows it (``GET /runs/{run_id}``, an item of ``GET /runs``),
    checked as a reader of the results stream checks it."""
    wire = {k: v for k, v in body.items() if k != "id"}  # a history item's entry id
    result = decode({"type": TaskResult.TYPE, "v": SCHEMA_VERSION, "body": pack(wire)})
    assert isinstance(result, TaskResult)
    return result
