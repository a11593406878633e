"""Publishing results: fenced by PEL ownership, group-committed, atomic per run.

Each result is written with its due entry's XACK in a script call
(``shared/contract/lua/run_publish.lua``) that first checks the entry is still this consumer's:
a run that was reclaimed while its executor was paused ends with exactly one result.
Results finishing together share one script call (group commit), which also gives back
their runs' semaphore leases.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Final

import msgpack
from redis.exceptions import ResponseError

from services.executor.semaphores import Lease
from shared.contract.codec import EventEncodeError, encode
from shared.contract.events import SCHEMA_VERSION, AlertRaised, TaskDue, TaskResult
from shared.contract.keys import EXECUTORS_GROUP, Keys
from shared.contract.scripts import ScriptClient, run, script
from shared.runtime.logging import get_logger
from shared.runtime.redis import DEAD_MAXLEN, Entry, Redis, dead_record

log = get_logger("watchkeeper.executor")
DEAD_LETTER_ALERT: Final = "executor.dead_lettered"


def fitted(result: TaskResult) -> bytes:
    """``result``'s entry body, without its details when they would exceed the body limit."""
    try:
        body = encode(result)["body"]
    except EventEncodeError as exc:
        log.warning("run.details_dropped", run_id=result.run_id, reason=str(exc))
        body = encode(replace(result, details={"dropped": f"details too large: {exc}"}))["body"]
    assert isinstance(body, bytes)
    return body


def _flat(fields: dict[str, Any]) -> list[Any]:
    return [item for pair in fields.items() for item in pair]


_Queued = tuple[Entry, str, bytes, Lease | None, "asyncio.Future[bool]"]
"""A result waiting for its script call: entry, progress hash, body, lease, outcome."""


@dataclass
class Publisher:
    """Writes results (and dead letters) for one executor consumer."""

    r: Redis
    keys: Keys
    consumer: str
    lane: ScriptClient | None = None
    """Where results are written when set (the service's :class:`~shared.runtime.lane.Lane`)."""
    _queue: list[_Queued] = field(default_factory=list)
    _flusher: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self._dead_letter = script(self.r, "run_dead_letter")

    async def publish(self, entry: Entry, result: TaskResult, lease: Lease | None = None) -> bool:
        """XADD ``result`` and XACK ``entry`` atomically if this consumer still owns it,
        and give back ``lease`` (either way).

        Returns False (and logs ``run.late_ack_ignored``) when another executor took the
        entry over or it was already acked: the result is then dropped, not duplicated.
        """
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        progress = self.keys.run_progress(result.run_id)
        self._queue.append((entry, progress, fitted(result), lease, done))
        if self._flusher is None:
            # The batch is written by its own task: cancelling a caller (shutdown) can
            # neither split nor stop it, and no caller needs a task of its own.
            self._flusher = asyncio.ensure_future(self._flush_all())
        published = await asyncio.shield(done)
        if not published:
            log.warning("run.late_ack_ignored", run_id=result.run_id, entry=entry.entry_id,
                        status=result.status, reason="owned elsewhere or acked")  # fmt: skip
        return published

    async def _flush_all(self) -> None:
        try:
            # One turn of the loop lets runs finishing in the same tick join this batch.
            await asyncio.sleep(0)
            while self._queue:
                batch, self._queue = self._queue, []
                await self._flush(batch)
        finally:
            self._flusher = None

    async def _flush(self, batch: list[_Queued]) -> None:
        runs = [(entry.stream, entry.entry_id, progress, lease.holder if lease else "",
                 lease.names if lease else (), body)
                for entry, progress, body, lease, _ in batch]  # fmt: skip
        # Lua's cmsgpack knows no bin type: bodies go as raw strings.
        packed = msgpack.packb(runs, use_bin_type=False)
        try:
            replies = await run(
                self.lane or self.r, "run_publish", [self.keys.results],
                [EXECUTORS_GROUP, self.consumer, TaskResult.TYPE, SCHEMA_VERSION, packed],
            )  # fmt: skip
            # Read before any caller is answered: a reply that is not one flag per result
            # fails them all (raised to each) instead of the flusher, leaving none waiting.
            published = [bool(int(reply)) for reply in replies]
            if len(published) != len(batch):
                raise ResponseError(f"run_publish answered {len(published)} of {len(batch)}")
        except BaseException as exc:
            for *_, done in batch:
                if not done.done():
                    done.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (*_, done), ok in zip(batch, published, strict=True):
            done.set_result(ok)

    async def dead_letter_run(
        self, entry: Entry, result: TaskResult, due: TaskDue, reason: str
    ) -> bool:
        """Publish a ``dead_lettered`` result, one alert and the dead record, then ack."""
        alert = _alert(due, result, reason)
        record = dead_record(entry, EXECUTORS_GROUP, reason, self.consumer)
        result_items, alert_items = _flat(encode(result)), _flat(encode(alert))
        done = await self._dead_letter(
            keys=[entry.stream, self.keys.results, self.keys.alerts_stream, self.keys.dead,
                  self.keys.counter("dead_lettered")],
            args=[EXECUTORS_GROUP, entry.entry_id, self.consumer, DEAD_MAXLEN,
                  len(result_items), len(alert_items), *result_items, *alert_items, *record],
        )  # fmt: skip
        if int(done):
            log.error("run.dead_lettered", run_id=due.run_id, task=due.task, reason=reason)
        return bool(int(done))


def _alert(due: TaskDue, result: TaskResult, reason: str) -> AlertRaised:
    return AlertRaised(
        alert_id=uuid.uuid4().hex, key=f"{DEAD_LETTER_ALERT}:{due.task}", severity="critical",
        title=f"{due.task}: run dead-lettered", message=f"run {due.run_id}: {reason}",
        source="executor", labels={"task": due.task, "run_id": due.run_id,
                                   "executor": result.executor},
        first_seen=result.finished_at, last_seen=result.finished_at,
    )  # fmt: skip
