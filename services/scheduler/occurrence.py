"""Building ``task.due`` events from task definitions (pure)."""

from __future__ import annotations

from typing import Any

from shared.config.models import TaskConfig
from shared.contract.codec import EventEncodeError, encode
from shared.contract.decisions import Cause
from shared.contract.events import TaskDue, TriggerEmergency, TriggerRun, trigger_slot

Refusal = tuple[Cause | None, str]
"""Why a request is refused: the cause (None when not even a task) and the words."""


def run_id(task: str, slot: str) -> str:
    """Deterministic occurrence id: ``task:slot`` (slot = epoch ms or a trigger entry id)."""
    return f"{task}:{slot}"


def make_due(
    name: str,
    task: TaskConfig,
    *,
    slot: str,
    trigger: str,
    scheduled_for: float,
    emitted_at: float,
    params: dict[str, Any] | None = None,
    priority: str | None = None,
    attempt: int = 1,
    deadline: float | None = None,
    reason: str | None = None,
    correlation_id: str | None = None,
) -> TaskDue:
    """A ``task.due`` carrying the definition snapshot an executor needs."""
    return TaskDue(
        run_id=run_id(name, slot),
        task=name,
        handler=task.handler,
        params={**task.params, **(params or {})},
        trigger=trigger,
        scheduled_for=scheduled_for,
        emitted_at=emitted_at,
        attempt=attempt,
        max_attempts=task.retries.max + 1,
        timeout_s=task.timeout,
        priority=priority or task.priority,
        rollback=task.rollback,
        deadline=deadline,
        reason=reason,
        correlation_id=correlation_id,
        max_instances=task.max_instances,
        resources=list(task.resources),
    )


def due_from_trigger(
    event: TriggerRun | TriggerEmergency,
    task: TaskConfig,
    *,
    entry_id: str,
    now: float,
    via_triggers: bool = False,
) -> TaskDue:
    """The run a trigger asks for; emergencies go to the critical stream. ``via_triggers``:
    the entry came from the triggers stream (see :func:`trigger_slot`)."""
    emergency = isinstance(event, TriggerEmergency)
    return make_due(
        event.task,
        task,
        slot=trigger_slot(entry_id, emergency=emergency, via_triggers=via_triggers),
        trigger="emergency" if emergency else "manual",
        scheduled_for=now,
        emitted_at=now,
        params=event.params,
        priority="critical" if emergency else None,
        reason=event.reason,
        correlation_id=event.correlation_id,
    )


def refusal(event: TriggerRun | TriggerEmergency, task: TaskConfig) -> Refusal | None:
    """Why a trigger of a known task must be refused (dead-lettered), or None."""
    if isinstance(event, TriggerEmergency) and not task.emergency:
        return (
            Cause.NOT_ALLOWED,
            f"task {event.task!r} does not allow emergency runs (emergency: false)",
        )
    if event.params:
        why = task.params_refusal(event.params)
        if why is not None:
            return (Cause.NOT_ALLOWED, why)
    return None


def wire_body(due: TaskDue) -> tuple[bytes, Refusal | None]:
    """The run's encoded body (the emission reuses it), or why it is refused: a run too
    large to put on the wire is refused before anything is written (the limit applies to
    what the scheduler produces, not only to what it reads)."""
    try:
        body = encode(due)["body"]
    except EventEncodeError as exc:
        return b"", (Cause.INVALID, str(exc))
    assert isinstance(body, bytes)
    return body, None
