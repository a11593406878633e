"""Progress of a running handler, kept in ``{ns}:run:<run_id>:progress`` for the API.

Handlers may report per item; writes are throttled so a tight loop costs no Redis
round trips beyond one every ``min_interval_s``. The hash expires on its own if the
executor dies, and the result publication deletes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from shared.contract.readmodel import RunProgress
from shared.runtime.clock import Clock
from shared.runtime.redis import Redis

PROGRESS_TTL_S: Final = 3600
PROGRESS_STREAM_MAXLEN: Final = 1_000
MIN_INTERVAL_S: Final = 0.5


@dataclass
class RedisProgress:
    """A :class:`~services.executor.handlers.base.ProgressSink` writing one hash."""

    r: Redis
    key: str
    clock: Clock
    executor_id: str
    stream: str | None = None
    """Where each written report is also appended for live views (the API's SSE feed)."""
    run_id: str = ""
    task: str = ""
    min_interval_s: float = MIN_INTERVAL_S
    _last: float | None = None

    async def __call__(self, done: float, total: float | None, note: str) -> None:
        """Record ``done`` of ``total``; skipped when the last write is too recent,
        except the final one (``done >= total``), which is always written."""
        now = self.clock.monotonic()
        final = total is not None and done >= total
        if not final and self._last is not None and now - self._last < self.min_interval_s:
            return
        self._last = now
        progress = RunProgress(
            done=done, total=total, note=note, updated_at=self.clock.time(),
            executor=self.executor_id,
            percent=round(100.0 * done / total, 1) if total else None,
        )  # fmt: skip
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(self.key, mapping=progress.to_fields())  # type: ignore[arg-type]
            pipe.expire(self.key, PROGRESS_TTL_S)
            if self.stream is not None:
                live = {"run_id": self.run_id, "task": self.task, **progress.to_fields()}
                pipe.xadd(self.stream, live, maxlen=PROGRESS_STREAM_MAXLEN, approximate=True)  # type: ignore[arg-type]
            await pipe.execute()
