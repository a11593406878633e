"""Unfinished runs with what their handlers last reported, read from the read model.

Each emitted run holds a lease in ``{ns}:running:<task>`` (run id → expiry in ms on
Redis' clock; the scheduler takes it at emission, the executor renews it while the
handler runs, the run's result removes it), and in its window's zset when the window
caps its runs; the handler's latest report is in ``{ns}:run:<run_id>:progress``. The
terminal dashboard and the API's ``/runs/running`` read them with :func:`running`.

A lease whose result never came (a due entry deleted by hand, an executor lost for
good) only expires: readers count live leases only (:func:`live_bound`), and the
scheduler leader removes expired ones with :func:`sweep_expired` (an ``overlap: allow``
task without ``max_instances`` never prunes its zset when it fires).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import redis.asyncio as aioredis

from shared.contract.keys import Keys
from shared.contract.readmodel import RunProgress
from shared.contract.records import RecordError
from shared.contract.scripts import run


@dataclass(frozen=True, slots=True)
class RunningRun:
    """A run an executor holds now, with what its handler last reported (None: nothing
    reported yet, or a damaged record)."""

    task: str
    run_id: str
    progress: RunProgress | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        progress = None if self.progress is None else self.progress.as_dict()
        return {"task": self.task, "run_id": self.run_id, "progress": progress}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunningRun:
        """The run :meth:`as_dict` printed (the API's JSON read back; the progress's
        ``executor`` is not in it and stays empty)."""
        p = data["progress"]
        progress = None if p is None else RunProgress(**p, executor="")
        return cls(data["task"], data["run_id"], progress)


SWEEP_PAGE: Final = 1_000
"""Lease zsets pruned per script call by :func:`sweep_expired`."""


def server_ms(time_reply: tuple[int, int]) -> int:
    """A ``TIME`` reply (seconds, microseconds) in ms, as run leases are written."""
    seconds, micros = time_reply
    return int(seconds) * 1000 + int(micros) // 1000


async def lease_now_ms(r: aioredis.Redis) -> int:
    """Redis' clock in ms: the one run leases expire on."""
    return server_ms(await r.time())


async def live_bound(r: aioredis.Redis) -> str:
    """The ``min`` of a ``ZRANGEBYSCORE`` / ``ZCOUNT`` that counts live leases only (a
    lease whose expiry is now or earlier is over, as the scripts that prune see it)."""
    return f"({await lease_now_ms(r)}"


async def running(r: aioredis.Redis, keys: Keys, tasks: Iterable[str]) -> list[RunningRun]:
    """Unfinished runs of ``tasks`` (live leases of ``running:<task>``) with their
    progress, by task."""
    names = list(tasks)
    live = await live_bound(r)
    async with r.pipeline(transaction=False) as pipe:
        for task in names:
            pipe.zrangebyscore(keys.running(task), live, "+inf")
        held = await pipe.execute()
    pairs = [(task, _text(run_id)) for task, ids in zip(names, held, strict=True) for run_id in ids]
    async with r.pipeline(transaction=False) as pipe:
        for _, run_id in pairs:
            pipe.hgetall(keys.run_progress(run_id))
        progress = await pipe.execute()
    return [RunningRun(task, run_id, _progress(raw))
            for (task, run_id), raw in zip(pairs, progress, strict=True)]  # fmt: skip


async def sweep_expired(r: aioredis.Redis, keys: Keys, tasks: Iterable[str],
                        windows: Iterable[str] = ()) -> int:  # fmt: skip
    """Remove the expired leases of ``tasks``' run zsets and ``windows``' zsets (on
    Redis' clock, ``lease_sweep.lua``), :data:`SWEEP_PAGE` zsets per call; how many
    went. About 1 ms of the caller's CPU per page (0.1 s for 100,000 tasks)."""
    zsets = [keys.running(task) for task in tasks] + [keys.window_running(w) for w in windows]
    removed = 0
    for start in range(0, len(zsets), SWEEP_PAGE):
        removed += int(await run(r, "lease_sweep", zsets[start : start + SWEEP_PAGE], ()))
    return removed


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _progress(raw: Any) -> RunProgress | None:
    if not raw:
        return None
    try:
        return RunProgress.from_fields(raw)
    except RecordError:
        return None
