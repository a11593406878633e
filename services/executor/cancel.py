"""Cancelling runs on request (``{ns}:run:<run_id>:cancel``, see shared.contract.cancel).

While a handler runs, its attempt's task is listed here; a cancel request cancels that
task, and the cancellation surfaces inside the handler. :meth:`Cancels.run` tells it
apart from any other cancellation the way ``asyncio.timeout`` does (``uncancel``): a
request alone ends in :class:`RunCancelled`, and the attempt goes on to publish a
``cancelled`` result and ack, exactly as for any other outcome. A cancellation of the
attempt itself (shutdown, timeout), alone or with a request, propagates unchanged. (No
task of its own per handler: one run costs one task.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from shared.contract.keys import Keys
from shared.runtime.logging import get_logger
from shared.runtime.redis import Redis, text

log = get_logger("watchkeeper.executor")
T = TypeVar("T")


class RunCancelled(Exception):
    """The handler was cancelled on request; the message says who asked."""


@dataclass
class Cancels:
    """The handlers running now, by run id, and the cancel requests they received."""

    r: Redis
    keys: Keys
    handlers: dict[str, asyncio.Task[Any]] = field(default_factory=dict)
    requested: dict[str, str] = field(default_factory=dict)

    async def run(self, run_id: str, handler: Awaitable[T]) -> T:
        """Await ``handler`` in the current task, which :meth:`poll` may cancel; a cancel on
        request raises :class:`RunCancelled`, any other cancellation propagates."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("Cancels.run must be awaited in a task")
        self.handlers[run_id] = task
        settled = False
        try:
            return await handler
        except asyncio.CancelledError:
            by = self.requested.get(run_id)
            if by is None:
                raise
            settled = True
            if task.uncancel() > 0:
                raise  # the attempt itself is being cancelled too
            raise RunCancelled(f"cancelled on request of {by}") from None
        finally:
            self.handlers.pop(run_id, None)
            if self.requested.pop(run_id, None) is not None and not settled:
                task.uncancel()  # the handler swallowed the request: take it back

    async def poll(self) -> list[str]:
        """Cancel every running handler whose run has a cancel request (one MGET);
        returns their run ids."""
        ids = [run_id for run_id in self.handlers if run_id not in self.requested]
        if not ids:
            return []
        asked = await self.r.mget([self.keys.cancel(run_id) for run_id in ids])
        cancelled = []
        for run_id, by in zip(ids, asked, strict=True):
            task = self.handlers.get(run_id)
            if by is None or task is None:
                continue  # no request, or the handler finished during the round trip
            self.requested[run_id] = text(by)
            task.cancel()
            cancelled.append(run_id)
            log.info("run.cancel_requested", run_id=run_id, requested_by=text(by))
        return cancelled
