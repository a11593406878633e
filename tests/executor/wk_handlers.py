"""Handlers used by the executor tests, loaded through ``executor.plugins``.

Executor processes import this module by name (``tests.executor.wk_handlers``), so
the same handlers run in-process and in real executor processes.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from services.executor.handlers.base import HandlerError, Outcome, PlannedAction, RunContext
from services.executor.handlers.registry import handler


class SleepParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = 0.0
    fail: bool = False


@handler("t_sleep", params=SleepParams)
async def t_sleep(ctx: RunContext, params: SleepParams) -> Outcome:
    """Sleep in ten steps, reporting progress; optionally fail at the end."""
    for step in range(10):
        await ctx.progress(step, 10, f"step {step}")
        await asyncio.sleep(params.seconds / 10)
    if params.fail:
        raise HandlerError("asked to fail", details={"slept": params.seconds})
    await ctx.progress(10, 10, "done")
    return Outcome(message=f"slept {params.seconds}", metrics={"items_processed": 1})


@handler("t_exit")
async def t_exit(ctx: RunContext, params: dict[str, object]) -> Outcome:
    """Kill the executor process running it (a poison pill)."""
    os._exit(17)


class ExclusiveParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = 0.3
    group: str = "database"


@handler("t_exclusive", params=ExclusiveParams)
async def t_exclusive(ctx: RunContext, params: ExclusiveParams) -> Outcome:
    """Record how many runs of ``group`` are active at once (list ``…:test:overlap``)."""
    assert ctx.redis is not None
    active = f"{ctx.keys.ns}:test:active:{params.group}"
    now_active = int(await ctx.redis.incr(active))
    await ctx.redis.rpush(f"{ctx.keys.ns}:test:overlap", f"{now_active}:{os.getpid()}")
    try:
        await asyncio.sleep(params.seconds)
    finally:
        await ctx.redis.decr(active)
    return Outcome(message=f"active={now_active}")


class FilesParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    root: str
    fail: bool = True


def _targets(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


async def plan_files(ctx: RunContext, params: FilesParams) -> list[PlannedAction]:
    """Delete ``*.log``, rewrite ``*.txt`` in place, create ``new.txt``."""
    root = Path(params.root)
    actions = [
        PlannedAction(action="delete" if p.suffix == ".log" else "write", path=str(p))
        for p in _targets(root)
    ]
    return [*actions, PlannedAction(action="write", path=str(root / "new.txt"))]


def _carry_out(actions: list[PlannedAction]) -> None:
    for action in actions:
        path = Path(action.path)
        if action.action == "delete":
            path.unlink()
        else:
            with path.open("ab") as fh:
                fh.write(b"changed by t_files\n")


@handler("t_files", params=FilesParams, plan=plan_files)
async def t_files(ctx: RunContext, params: FilesParams) -> Outcome:
    """Carry out the plan, then fail if asked (a half-done maintenance job)."""
    await asyncio.to_thread(_carry_out, await plan_files(ctx, params))
    if params.fail:
        raise HandlerError("failed after changing files")
    return Outcome(message="changed files")


class StepsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fail_in: str | None = None


@handler("t_steps", params=StepsParams)
async def t_steps(ctx: RunContext, params: StepsParams) -> Outcome:
    """Two recorded steps and one artifact; optionally fail inside a named step."""
    async with ctx.step("scan") as step:
        step.count(files=3, bytes=300)
        step.message = "3 files"
        if params.fail_in == "scan":
            raise HandlerError("scan broke")
    async with ctx.step("report") as step:
        ctx.artifacts.save("findings.json", b'{"findings": 2}')
        if params.fail_in == "report":
            raise HandlerError("report broke")
    async with ctx.step("notify") as step:
        step.skip("nobody to tell")
    return Outcome(message="done")
