"""What every channel shares: the note to deliver, the answer, filters and rendering."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import aiohttp

from services.reporter.alerting.transition import fingerprint
from services.reporter.notifier.http import HttpAnswer, retry_after_s
from services.reporter.notifier.safety import TargetRefused
from shared.config.models import AlertChannel, AlertsSettings
from shared.contract.alerts import AlertEvent
from shared.contract.events import AlertAcknowledged, AlertResolved
from shared.contract.vocabulary import SEVERITY_RANK
from shared.runtime.logging import redact_text


@dataclass(frozen=True, slots=True)
class Note:
    """One delivery: its stable id (the ``webhook-id``), the event, and the attempt (1…)."""

    delivery_id: str
    event: AlertEvent
    attempt: int = 1

    @property
    def status(self) -> str:
        """``firing``, ``resolved`` or ``acknowledged``."""
        if isinstance(self.event, AlertResolved):
            return "resolved"
        return "acknowledged" if isinstance(self.event, AlertAcknowledged) else "firing"

    @property
    def fingerprint(self) -> str:
        """The alert's identity across episodes."""
        return fingerprint(self.event.key)


@dataclass(frozen=True, slots=True)
class Answer:
    """What the receiver said: ``ok``, a one-line ``summary`` of its answer, how long it
    asked to wait (``Retry-After``) and whether retrying is pointless (``permanent``)."""

    ok: bool
    summary: str
    retry_after_s: float | None = None
    permanent: bool = False


class Channel(Protocol):
    """A configured destination."""

    config: AlertChannel

    async def send(self, note: Note) -> Answer:
        """Deliver ``note`` once (never raises for a receiver's failure: see :class:`Answer`)."""
        ...


def wants(config: AlertChannel, event: AlertEvent) -> bool:
    """Whether ``config``'s filters let ``event`` through (acknowledgements go to PagerDuty
    only: the other receivers have no such state)."""
    if isinstance(event, AlertAcknowledged) and config.type != "pagerduty":
        return False
    if SEVERITY_RANK.get(event.severity, 0) < SEVERITY_RANK[config.min_severity]:
        return False
    labels = {k: str(v) for k, v in event.labels.items()}
    if config.tasks and labels.get("task") not in config.tasks:
        return False
    return all(labels.get(k) == v for k, v in config.labels.items())


def missing(config: AlertChannel) -> str | None:
    """What the channel lacks to deliver anything (e.g. its URL variable is unset)."""
    needs = {"webhook": ("url",), "slack": ("url",), "pagerduty": ("routing_key",),
             "email": ("smtp_host", "sender", "to")}[config.type]  # fmt: skip
    lacking = [name for name in needs if not getattr(config, name)]
    return f"{config.key}: no {', '.join(lacking)} configured" if lacking else None


def iso(epoch: float) -> str:
    """RFC 3339 UTC (``2026-01-05T02:00:00Z``)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def links(event: AlertEvent, settings: AlertsSettings) -> dict[str, str]:
    """Links for people: the dashboard, and the run when the alert names one."""
    base = (settings.dashboard_url or "").rstrip("/")
    if not base:
        return {}
    out = {"dashboard": base + "/"}
    run_id = event.labels.get("run_id") or event.details.get("run_id")
    if run_id:
        out["run"] = f"{base}/api/v1/runs/{run_id}"
    return out


def headline(note: Note) -> str:
    """``[CRITICAL] title`` / ``[RESOLVED] title`` / ``[ACKNOWLEDGED] title``."""
    tag = note.event.severity.upper() if note.status == "firing" else note.status.upper()
    return f"[{tag}] {note.event.title}"


async def http_answer(
    send: Callable[[], Awaitable[HttpAnswer]], now: float, secrets: list[str],
    ok: Callable[[HttpAnswer], bool] = lambda a: 200 <= a.status < 300,
) -> Answer:  # fmt: skip
    """Run an HTTP send and turn its outcome (or error) into an :class:`Answer`."""
    try:
        answer = await send()
    except TargetRefused as exc:
        return Answer(False, str(exc), permanent=True)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        why = redact_text(str(exc) or type(exc).__name__, secrets)
        return Answer(False, f"{type(exc).__name__}: {why}")
    summary = redact_text(f"HTTP {answer.status} {answer.body}".strip(), secrets)
    return Answer(ok(answer), summary, retry_after_s(answer.retry_after, now))


def compact(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without empty values."""
    return {k: v for k, v in data.items() if v not in (None, "", [], {})}
