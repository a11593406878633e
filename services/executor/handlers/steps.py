"""Steps and artifacts of a run: what a handler did, step by step, and what it kept.

A handler wraps each phase in ``async with ctx.step("scan") as step:``; the step's
status, duration, counts and message go into the result's ``details["steps"]`` and,
while it runs, into the run's progress note, so the API and ``watchkeeper history`` show
what a run did while it runs and after. A step that raises is recorded as failed and
the exception goes on. Artifacts (a tool's JSON, a backup manifest, an audit's
findings) are files under ``<artifacts_dir>/<run_id>/``, named in ``details["artifacts"]``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from shared.runtime.clock import Clock

STEP_STATUSES: Final = ("running", "succeeded", "failed", "skipped")
MAX_STEPS: Final = 200
"""Steps kept per run: a handler looping per item must not grow the result without end."""
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")


@dataclass
class Step:
    """One phase of a run; the handler fills ``counts`` and ``message`` as it goes."""

    name: str
    started_at: float
    status: str = "running"
    duration_s: float = 0.0
    counts: dict[str, float] = field(default_factory=dict)
    message: str = ""

    def count(self, **amounts: float) -> None:
        """Add to named counters (``step.count(files=1, bytes=512)``)."""
        for name, amount in amounts.items():
            self.counts[name] = self.counts.get(name, 0) + amount

    def skip(self, why: str) -> None:
        """Mark the step skipped (e.g. nothing to do); ``why`` becomes its message."""
        self.status, self.message = "skipped", why

    def as_dict(self) -> dict[str, Any]:
        """The step as it appears in a result's details."""
        return {"name": self.name, "status": self.status, "duration_s": round(self.duration_s, 3),
                "counts": dict(self.counts), "message": self.message}  # fmt: skip


Notify = Callable[[str], Awaitable[None]]


@dataclass
class StepLog:
    """The steps of one attempt, in order."""

    clock: Clock
    notify: Notify | None = None
    steps: list[Step] = field(default_factory=list)
    dropped: int = 0

    @asynccontextmanager
    async def step(self, name: str) -> AsyncIterator[Step]:
        """Record the block as step ``name`` (failed if it raises; the error goes on)."""
        current = Step(name=name, started_at=self.clock.time())
        if len(self.steps) < MAX_STEPS:
            self.steps.append(current)
        else:
            self.dropped += 1
        await self._notify(f"step {name}: running")
        start = self.clock.monotonic()
        try:
            yield current
        except BaseException as exc:
            current.status = "failed"
            current.message = current.message or str(exc) or type(exc).__name__
            raise
        else:
            if current.status == "running":
                current.status = "succeeded"
        finally:
            current.duration_s = self.clock.monotonic() - start
            await self._notify(f"step {name}: {current.status}")

    async def _notify(self, note: str) -> None:
        if self.notify is not None:
            await self.notify(note)

    def as_list(self) -> list[dict[str, Any]]:
        """Every recorded step as plain data (plus a marker when some were dropped)."""
        listed = [s.as_dict() for s in self.steps]
        if self.dropped:
            listed.append({"name": "…", "status": "skipped", "duration_s": 0.0, "counts": {},
                           "message": f"{self.dropped} more steps not recorded"})  # fmt: skip
        return listed


@dataclass
class Artifacts:
    """Files a run keeps under ``root/<run_id>/`` (``root`` None: artifacts are refused)."""

    root: Path | None
    run_id: str
    saved: list[str] = field(default_factory=list)

    @property
    def folder(self) -> Path:
        """This run's artifact folder (created on first save)."""
        if self.root is None:
            raise RuntimeError("this executor keeps no artifacts (executor.artifacts_dir unset)")
        return self.root / _folder_name(self.run_id)

    def save(self, name: str, data: bytes) -> str:
        """Write ``data`` as artifact ``name`` (a plain file name); returns its path."""
        if not _SAFE_NAME.match(name):
            raise ValueError(f"artifact name {name!r} must be a plain file name")
        folder = self.folder
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name
        partial = target.with_name(f".{name}.partial")
        partial.write_bytes(data)
        partial.replace(target)  # readers never see half an artifact
        self.saved.append(str(target))
        return str(target)


def _folder_name(run_id: str) -> str:
    """A run id as one safe path component (``task:slot`` → ``task_slot``)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", run_id)[:200]
