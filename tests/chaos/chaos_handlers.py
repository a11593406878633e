"""The chaos tests' handler, loaded by executor processes through ``executor.plugins``.

``t_effect`` is a side effect the operation log can see: it appends ``start`` when it
begins and ``done`` when it completes, each one line with the run id, the attempt and
the pid, to the file named by its ``log`` param (O_APPEND, one write per line: lines
of concurrent processes never interleave).
"""

from __future__ import annotations

import asyncio
import os

from pydantic import BaseModel, ConfigDict

from services.executor.handlers.base import Outcome, RunContext
from services.executor.handlers.registry import handler


class EffectParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    log: str
    seconds: float = 0.05


def append(path: str, line: str) -> None:
    """Append ``line`` to ``path`` in one write."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


@handler("t_effect", params=EffectParams)
async def t_effect(ctx: RunContext, params: EffectParams) -> Outcome:
    """Log ``start``, work for ``seconds``, log ``done``."""
    append(params.log, f"start {ctx.run_id} {ctx.attempt} {os.getpid()}")
    await asyncio.sleep(params.seconds)
    append(params.log, f"done {ctx.run_id} {ctx.attempt} {os.getpid()}")
    return Outcome(message="effect done")
