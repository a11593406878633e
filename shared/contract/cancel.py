"""Asking for a run to be cancelled: the one rule the API and the CLI share.

A request is the key ``{ns}:run:<run_id>:cancel`` (value: who asked) with a TTL. The
executor holding the run checks the keys of its in-flight runs on every liveness tick
(one MGET), cancels the handler and publishes a ``cancelled`` result. A run still queued
is cancelled within a tick of starting, as long as the request has not expired.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

import redis.asyncio as aioredis

from shared.contract.keys import Keys
from shared.contract.running import server_ms

CANCEL_TTL_S: Final = 86_400
"""How long a cancel request waits for its run to start (a queued run)."""

Verdict = Literal["requested", "finished", "unknown"]


@dataclass(frozen=True, slots=True)
class CancelAnswer:
    """What came of a cancel request: ``requested`` (the run is unfinished; the request
    is stored), ``finished`` (``status`` says how it ended) or ``unknown``."""

    run_id: str
    verdict: Verdict
    status: str | None = None

    def message(self) -> str:
        """One line for a person."""
        if self.verdict == "requested":
            return f"cancel of run {self.run_id!r} requested"
        if self.verdict == "finished":
            return f"run {self.run_id!r} already finished ({self.status}); nothing to cancel"
        return f"no unfinished run {self.run_id!r} (unknown, not started, or expired)"


def task_of(run_id: str) -> str:
    """The task a run id names (``<task>:<slot>``; task names hold no colon)."""
    return run_id.rpartition(":")[0]


async def request_cancel(
    r: aioredis.Redis, keys: Keys, run_id: str, requested_by: str
) -> CancelAnswer:
    """Store a cancel request for ``run_id`` if it is unfinished: queued or running
    (a live lease in ``running:<task>``, or counted or reporting progress by an
    executor)."""
    async with r.pipeline(transaction=False) as pipe:
        pipe.hget(keys.result(run_id), "status")
        pipe.zscore(keys.running(task_of(run_id)), run_id)
        pipe.exists(keys.attempts(run_id), keys.run_progress(run_id))
        pipe.time()
        status, held, started, now = await pipe.execute()
    if status is not None:
        return CancelAnswer(run_id, "finished", _text(status))
    live = held is not None and held > server_ms(now)
    if not live and not started:
        return CancelAnswer(run_id, "unknown")
    await r.set(keys.cancel(run_id), requested_by, ex=CANCEL_TTL_S)
    return CancelAnswer(run_id, "requested")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
