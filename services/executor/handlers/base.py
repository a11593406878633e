"""What a handler is: params in, :class:`Outcome` out, with a :class:`RunContext`.

Handlers never publish results or touch streams; the executor's attempt protocol does
that. A handler signals an expected failure by raising :class:`HandlerError`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from services.executor.handlers.steps import Artifacts, Notify, Step, StepLog
from shared.contract.keys import Keys
from shared.runtime.clock import Clock
from shared.runtime.redis import Redis


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What a handler reports: a one-line message, details and numeric metrics."""

    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


class HandlerError(Exception):
    """An expected failure: the run is ``failed`` with this message and details."""

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


class ParamsError(HandlerError):
    """The task's params do not fit the handler (the message names the field)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedAction:
    """One change a file-changing handler will make (shown by ``run --dry-run``)."""

    action: str  # delete | compress | rotate | write | move
    path: str
    detail: str = ""
    bytes: int = 0


class ProgressSink(Protocol):
    """Where progress goes (a Redis hash in the executor, a list in tests)."""

    async def __call__(self, done: float, total: float | None, note: str) -> None:
        """Record that ``done`` of ``total`` units are finished."""
        ...


@dataclass(kw_only=True)
class RunContext:
    """Everything a handler may use for one attempt."""

    run_id: str
    task: str
    attempt: int
    clock: Clock
    log: Any
    redis: Redis | None = None
    keys: Keys = field(default_factory=Keys)
    allowed_roots: tuple[str, ...] = ()
    dry_run: bool = False
    progress_sink: ProgressSink | None = None
    artifacts_dir: Path | None = None
    database_url: str | None = None
    """``database.url`` from the config (``DATABASE_URL``): PostgreSQL for handlers that use it."""
    steps: StepLog = field(init=False)
    artifacts: Artifacts = field(init=False)

    def __post_init__(self) -> None:
        # Step notes go to the sink without a reference back to this context: a bound
        # method here made every run's context a cycle for the garbage collector.
        self.steps = StepLog(self.clock)
        self.steps.notify = _step_notes(self.progress_sink, self.steps.steps)
        self.artifacts = Artifacts(self.artifacts_dir, self.run_id)

    def step(self, name: str) -> AbstractAsyncContextManager[Step]:
        """Record a phase of the run (see :mod:`services.executor.handlers.steps`)."""
        return self.steps.step(name)

    def record(self) -> dict[str, Any]:
        """What the run did, for the result's details: its steps and artifacts."""
        done: dict[str, Any] = {}
        if self.steps.steps:
            done["steps"] = self.steps.as_list()
        if self.artifacts.saved:
            done["artifacts"] = list(self.artifacts.saved)
        return done

    async def progress(self, done: float, total: float | None = None, note: str = "") -> None:
        """Report progress; cheap enough to call per item, the sink throttles."""
        if self.progress_sink is not None:
            await self.progress_sink(done, total, note)


def _step_notes(sink: ProgressSink | None, steps: list[Step]) -> Notify | None:
    """Report each step note as progress: ``len(steps)`` done, total unknown."""
    if sink is None:
        return None

    async def note(text: str) -> None:
        await sink(len(steps), None, text)

    return note


RunFn = Callable[[RunContext, Any], Awaitable[Outcome]]
PlanFn = Callable[[RunContext, Any], Awaitable[list[PlannedAction]]]
