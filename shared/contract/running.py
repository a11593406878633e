"""Unfinished runs with what their handlers last reported, read from the read model.

An executor holds each run it works on in ``{ns}:running:<task>`` (run id → lease
expiry) and keeps the handler's latest report in ``{ns}:run:<run_id>:progress``. The
terminal dashboard and the API's ``/runs/running`` read them with :func:`running`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from shared.contract.keys import Keys
from shared.contract.readmodel import RunProgress
from shared.contract.records import RecordError


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


async def running(r: aioredis.Redis, keys: Keys, tasks: Iterable[str]) -> list[RunningRun]:
    """Unfinished runs of ``tasks`` (``running:<task>``) with their progress, by task."""
    names = list(tasks)
    async with r.pipeline(transaction=False) as pipe:
        for task in names:
            pipe.zrange(keys.running(task), 0, -1)
        held = await pipe.execute()
    pairs = [(task, _text(run_id)) for task, ids in zip(names, held, strict=True) for run_id in ids]
    async with r.pipeline(transaction=False) as pipe:
        for _, run_id in pairs:
            pipe.hgetall(keys.run_progress(run_id))
        progress = await pipe.execute()
    return [RunningRun(task, run_id, _progress(raw))
            for (task, run_id), raw in zip(pairs, progress, strict=True)]  # fmt: skip


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _progress(raw: Any) -> RunProgress | None:
    if not raw:
        return None
    try:
        return RunProgress.from_fields(raw)
    except RecordError:
        return None
