"""Which event types each stream carries (DESIGN §2), and the one decode rule for readers.

A reader accepts only the types its stream documents: a ``control.paused`` XADDed to the
triggers stream must not pause a task, and a ``task.result`` there must not be counted.
:func:`decode_on` applies the codec and this table together, so every service rejects a
misplaced entry with the same reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from shared.contract.codec import EventDecodeError, decode
from shared.contract.events import (
    AlertAcknowledged,
    AlertRaised,
    AlertResolved,
    Event,
    TaskChanged,
    TaskDue,
    TaskPaused,
    TaskResult,
    TaskResumed,
    TriggerEmergency,
    TriggerRun,
)
from shared.contract.keys import Keys

STREAM_TYPES: Final[Mapping[str, frozenset[str]]] = {
    "triggers": frozenset({TriggerRun.TYPE, TriggerEmergency.TYPE}),
    "emergency": frozenset({TriggerEmergency.TYPE}),
    "due": frozenset({TaskDue.TYPE}),
    "results": frozenset({TaskResult.TYPE}),
    "alerts": frozenset({AlertRaised.TYPE, AlertResolved.TYPE, AlertAcknowledged.TYPE}),
    "control": frozenset({TaskChanged.TYPE, TaskPaused.TYPE, TaskResumed.TYPE}),
    "dead": frozenset(),
}
"""Stream kind (the part after ``{ns}:stream:``, without a priority) → accepted types."""


def trigger_stream(keys: Keys, event: TriggerRun | TriggerEmergency) -> str:
    """Where to publish a trigger: emergencies on their own stream (read first by the
    scheduler), manual runs on the triggers stream."""
    return keys.emergency if isinstance(event, TriggerEmergency) else keys.triggers


def stream_kind(keys: Keys, stream: str) -> str | None:
    """The kind of ``stream`` in :data:`STREAM_TYPES` (``due:high`` → ``due``), or None
    when it is not one of the namespace's streams."""
    prefix = f"{keys.ns}:stream:"
    if not stream.startswith(prefix):
        return None
    kind = stream[len(prefix) :].split(":", 1)[0]
    return kind if kind in STREAM_TYPES else None


def misplaced(keys: Keys, stream: str, type_name: str) -> str | None:
    """Why an event of ``type_name`` must be rejected on ``stream``, or None if it belongs."""
    kind = stream_kind(keys, stream)
    if kind is not None and type_name in STREAM_TYPES[kind]:
        return None
    return f"{type_name} does not belong on {stream}"


def decode_on(keys: Keys, stream: str, fields: Mapping[Any, Any]) -> Event:
    """Decode an entry read from ``stream``; raises :class:`EventDecodeError` when it does
    not decode or its type does not belong on that stream."""
    event = decode(fields)
    reason = misplaced(keys, stream, event.TYPE)
    if reason is not None:
        raise EventDecodeError(reason)
    return event
