"""Following requested runs to their final result (``--wait``, ``--watch``, ``run-all``).

A trigger carries a fresh correlation id. The scheduler copies it into the ``task.due``
it emits, which tells us the run id; retries keep the run id but not the correlation id,
so from then on results are matched by run id. A result is final when it succeeded, or
its status is not retried, or it was the last attempt.

Everything is read without a consumer group (an observer), from stream positions taken
*before* the trigger was sent, so nothing the run writes can be missed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

from shared.contract.codec import EventDecodeError
from shared.contract.events import TaskDue, TaskResult
from shared.contract.keys import Keys
from shared.contract.readmodel import RunProgress
from shared.contract.records import RecordError
from shared.contract.streams import decode_on
from shared.runtime.redis import Redis, text

RETRIED_STATUSES: Final = frozenset({"failed", "timed_out"})
"""Statuses the scheduler retries while attempts remain (its ``RETRYABLE``)."""
TICK_MS: Final = 500
"""How long one read blocks: also how often progress is refreshed."""

ProgressFn = Callable[[TaskDue, RunProgress | None], None]


def is_final(result: TaskResult) -> bool:
    """Whether no retry will follow ``result``."""
    return result.status not in RETRIED_STATUSES or result.attempt >= result.max_attempts


async def stream_tails(r: Redis, keys: Keys) -> dict[str, str]:
    """The last entry id of the results and due streams (``0-0`` when empty)."""
    tails: dict[str, str] = {}
    for stream in (keys.results, *keys.due_streams):
        last: Any = await r.xrevrange(stream, count=1)
        tails[stream] = text(last[0][0]) if last else "0-0"
    return tails


class Follower:
    """Waits for the final results of the runs requested with ``correlation_ids``."""

    def __init__(
        self, r: Redis, keys: Keys, since: dict[str, str], correlation_ids: Iterable[str]
    ) -> None:
        self.r, self.keys, self.since = r, keys, dict(since)
        self.pending = set(correlation_ids)
        self.dues: dict[str, TaskDue] = {}  # run id → its first due
        self.results: dict[str, TaskResult] = {}  # correlation id → final result

    async def until_done(self, on_progress: ProgressFn | None = None) -> dict[str, TaskResult]:
        """Read until every requested run has a final result (bound it with a timeout)."""
        while self.pending:
            reply: Any = await self.r.xread(self.since, count=100, block=TICK_MS)  # type: ignore[arg-type]
            for stream, items in reply or []:
                for entry_id, fields in items:
                    self.since[text(stream)] = text(entry_id)
                    self._see(text(stream), fields)
            if on_progress is not None:
                await self._report(on_progress)
        return self.results

    def _see(self, stream: str, fields: Any) -> None:
        try:
            event = decode_on(self.keys, stream, fields)
        except EventDecodeError:
            return  # the stream's group readers dead-letter it
        if isinstance(event, TaskDue) and event.correlation_id in self.pending:
            self.dues.setdefault(event.run_id, event)
        elif isinstance(event, TaskResult) and is_final(event):
            due = self.dues.get(event.run_id)
            cid = due.correlation_id if due is not None else event.correlation_id
            if cid in self.pending:
                self.pending.discard(cid)
                self.results[cid] = event

    async def _report(self, on_progress: ProgressFn) -> None:
        for run_id, due in self.dues.items():
            if due.correlation_id not in self.pending:
                continue
            raw = await self.r.hgetall(self.keys.run_progress(run_id))
            try:
                progress = RunProgress.from_fields(raw) if raw else None
            except RecordError:
                progress = None
            on_progress(due, progress)
