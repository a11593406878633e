"""What happens to an alert when it is raised again, resolved or looked at (pure).

The rules, in the order they are checked for an active alert:

- a raise that was held back (silenced, or inside the cooldown) is announced
  (``firing``) as soon as neither holds;
- a raise above the severity last announced is announced at once (``escalated:<sev>``),
  whatever the cooldown, unless silenced;
- a critical alert nobody acknowledged is announced again every ``reminder``
  (``reminder:<n>``);
- anything else only counts (``count``, ``last_seen``).

A new episode (the key was not active) is announced (``firing``) unless silenced or less
than ``cooldown`` after the key's previous announcement; the silence and that memory
outlive a resolve. A resolve is announced only when the episode was.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

from shared.contract.readmodel import AlertRecord
from shared.contract.vocabulary import SEVERITY_RANK


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """An alert condition seen at ``at``: a rule firing, or an alert another system sent."""

    key: str
    severity: str
    title: str
    message: str = ""
    source: str = "reporter"
    labels: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    at: float


@dataclass(frozen=True, slots=True)
class Timing:
    """``cooldown_s`` between announcements of one key; ``reminder_s`` between reminders."""

    cooldown_s: float
    reminder_s: float


@dataclass(frozen=True, slots=True)
class Transition:
    """The record to store, the announcement to make (a notice, or None) and the log
    action (None: nothing worth logging, e.g. a repeat)."""

    record: AlertRecord
    notice: str | None
    action: str | None


def alert_id(key: str, first_seen: float) -> str:
    """The id of one episode of an alert: the same whoever computes it."""
    return hashlib.sha256(f"{key}|{first_seen!r}".encode()).hexdigest()[:20]


def fingerprint(key: str) -> str:
    """The alert's identity across episodes (Alertmanager ``fingerprint``, PagerDuty
    ``dedup_key``)."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _fresh(obs: Observation, before: AlertRecord | None) -> AlertRecord:
    return AlertRecord(
        key=obs.key, alert_id=alert_id(obs.key, obs.at), severity=obs.severity,
        title=obs.title, message=obs.message, source=obs.source,
        labels=json.dumps(obs.labels, sort_keys=True), details=json.dumps(obs.details),
        first_seen=obs.at, last_seen=obs.at,
        silenced_until=before.silenced_until if before else None,
        silenced_by=before.silenced_by if before else None,
        announced_at=before.announced_at if before else None,
    )  # fmt: skip


def _announce(record: AlertRecord, notice: str, at: float) -> Transition:
    announced = replace(record, announced_at=at, announced_severity=record.severity,
                        announcements=record.announcements + 1, held=False)  # fmt: skip
    return Transition(announced, notice, notice.split(":", 1)[0])


def on_raise(current: AlertRecord | None, obs: Observation, timing: Timing) -> Transition:
    """``obs`` fired (again)."""
    if current is None or not current.active:
        record = _fresh(obs, current)
        if record.silenced(obs.at) or _cooling(record, obs.at, timing):
            return Transition(replace(record, held=True), None, "held")
        return _announce(record, "firing", obs.at)
    updated = replace(
        current, severity=obs.severity, title=obs.title, message=obs.message,
        labels=json.dumps(obs.labels, sort_keys=True), details=json.dumps(obs.details),
        last_seen=obs.at, count=current.count + 1,
    )  # fmt: skip
    return due(updated, obs.at, timing) or Transition(updated, None, None)


def due(record: AlertRecord, at: float, timing: Timing) -> Transition | None:
    """The announcement an active alert is owed at ``at``, if any."""
    if not record.active or record.silenced(at):
        return None
    if record.held:
        return None if _cooling(record, at, timing) else _announce(record, "firing", at)
    last = SEVERITY_RANK.get(record.announced_severity or "", 0)
    if SEVERITY_RANK.get(record.severity, 0) > last:
        return _announce(record, f"escalated:{record.severity}", at)
    if _reminder_due(record, at, timing):
        return _announce(record, f"reminder:{record.announcements}", at)
    return None


def on_resolve(current: AlertRecord | None, at: float) -> Transition | None:
    """The condition cleared; None when the alert was not active."""
    if current is None or not current.active:
        return None
    record = replace(current, resolved_at=at, last_seen=max(current.last_seen, at), held=False)
    return Transition(record, "resolved" if current.announcements else None, "resolved")


def _cooling(record: AlertRecord, at: float, timing: Timing) -> bool:
    return record.announced_at is not None and at - record.announced_at < timing.cooldown_s


def _reminder_due(record: AlertRecord, at: float, timing: Timing) -> bool:
    return (
        record.severity == "critical"
        and record.acked_by is None
        and record.announced_at is not None
        and at - record.announced_at >= timing.reminder_s
    )
