"""Wire events (DESIGN §2): one frozen, keyword-only, slotted dataclass per ``type``.

Times are UTC epoch seconds as floats; ids are strings. ``shared.contract.codec`` turns these
into stream entries (``type``, ``v``, ``body``) and back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from shared.contract.vocabulary import PRIORITIES, SEVERITIES

SCHEMA_VERSION: Final = "1"

TRIGGER_KINDS: Final = ("schedule", "manual", "emergency", "retry", "dependency", "policy")
"""Why a ``task.due`` was emitted."""

RESULT_STATUSES: Final = (
    "succeeded",
    "failed",
    "timed_out",
    "rolled_back",
    "skipped",
    "dead_lettered",
    "cancelled",
)
"""Every status a ``task.result`` may carry."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _TriggerBody:
    """Fields shared by both trigger events."""

    task: str
    params: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    requested_by: str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggerRun(_TriggerBody):
    """Ask for one run of ``task`` now (anyone may publish it). ``force`` runs it even
    when the task is disabled or outside its window (like an emergency, on its own
    priority's stream)."""

    TYPE: ClassVar[str] = "trigger.run"
    force: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggerEmergency(_TriggerBody):
    """Run ``task`` on the critical stream, bypassing windows and cooldown."""

    TYPE: ClassVar[str] = "trigger.emergency"


def trigger_slot(entry_id: str, *, emergency: bool, via_triggers: bool = False) -> str:
    """The slot of the run a trigger entry asks for: ``m<entry id>`` for a manual run,
    ``e<entry id>`` for an emergency from the emergency stream, ``et<entry id>`` for one
    sent to the triggers stream (``via_triggers``: two streams may hand out the same entry
    id, and two requests must not become one run); its run id is ``<task>:<slot>``."""
    if not emergency:
        return "m" + entry_id
    return ("et" if via_triggers else "e") + entry_id


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskDue:
    """One occurrence to execute; carries the task definition snapshot it needs."""

    TYPE: ClassVar[str] = "task.due"
    run_id: str
    task: str
    handler: str
    params: dict[str, Any]
    trigger: str
    scheduled_for: float
    emitted_at: float
    attempt: int
    max_attempts: int
    timeout_s: float
    priority: str
    rollback: str = "off"
    deadline: float | None = None
    reason: str | None = None
    correlation_id: str | None = None
    max_instances: int | None = None
    resources: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskResult:
    """The outcome of one attempt of one run."""

    TYPE: ClassVar[str] = "task.result"
    run_id: str
    task: str
    handler: str
    attempt: int
    trigger: str
    scheduled_for: float
    status: str
    started_at: float
    finished_at: float
    duration_s: float
    executor: str
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    rollback_id: str | None = None
    max_attempts: int = 1
    correlation_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class _AlertBody:
    """Fields shared by both alert events."""

    alert_id: str
    key: str
    severity: str
    title: str
    message: str
    source: str
    labels: dict[str, Any] = field(default_factory=dict)
    first_seen: float
    last_seen: float
    count: int = 1
    notice: str | None = None
    """Which announcement this is (``firing``, ``escalated:critical``, ``reminder:2``,
    ``resolved``, ``acknowledged``), set by Watchkeeper's alert store; the notifier delivers
    each (alert, channel, notice) once. Alerts from other producers leave it out: the
    notifier then passes them through the store first (dedupe, cooldown)."""
    details: dict[str, Any] = field(default_factory=dict)
    """Context for receivers (run id, error, measured values); never secrets."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRaised(_AlertBody):
    """An alert became active (or fired again: ``count`` grows)."""

    TYPE: ClassVar[str] = "alert.raised"


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertAcknowledged(_AlertBody):
    """Someone acknowledged an active alert (``acked_by``); PagerDuty hears about it."""

    TYPE: ClassVar[str] = "alert.acknowledged"
    acked_by: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertResolved(_AlertBody):
    """An active alert cleared."""

    TYPE: ClassVar[str] = "alert.resolved"


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskChanged:
    """A task definition was created, updated or deleted (control stream)."""

    TYPE: ClassVar[str] = "control.task_changed"
    task: str
    deleted: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskPaused:
    """Stop firing ``task`` until resumed (control stream)."""

    TYPE: ClassVar[str] = "control.paused"
    task: str
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskResumed:
    """Resume firing ``task`` (control stream)."""

    TYPE: ClassVar[str] = "control.resumed"
    task: str


Event = (
    TriggerRun
    | TriggerEmergency
    | TaskDue
    | TaskResult
    | AlertRaised
    | AlertResolved
    | AlertAcknowledged
    | TaskChanged
    | TaskPaused
    | TaskResumed
)

EVENT_TYPES: Final[dict[str, type[Event]]] = {
    cls.TYPE: cls
    for cls in (
        TriggerRun,
        TriggerEmergency,
        TaskDue,
        TaskResult,
        AlertRaised,
        AlertResolved,
        AlertAcknowledged,
        TaskChanged,
        TaskPaused,
        TaskResumed,
    )
}
"""Wire ``type`` → event class."""

ENUM_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "trigger": TRIGGER_KINDS,
    "status": RESULT_STATUSES,
    "severity": SEVERITIES,
    "priority": PRIORITIES,
}
"""Fields whose values must come from a closed set, whatever the event."""
