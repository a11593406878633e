"""PagerDuty Events API v2: trigger, acknowledge and resolve one incident per alert key.

``dedup_key`` is the alert's fingerprint, so every announcement of a key (and its
acknowledgement and resolve) lands on the same incident. The events URL is configurable
(``url``; PagerDuty's own by default), which is also how tests reach a local receiver.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from services.reporter.notifier import http
from services.reporter.notifier.channels.base import Answer, Note, http_answer, iso, links
from services.reporter.notifier.safety import Allowlist
from shared.config.models import PAGERDUTY_EVENTS_URL, AlertChannel, AlertsSettings
from shared.runtime.clock import Clock

ACTIONS = {"firing": "trigger", "acknowledged": "acknowledge", "resolved": "resolve"}


def pagerduty_body(note: Note, routing_key: str, settings: AlertsSettings) -> dict[str, Any]:
    """The Events v2 body for ``note``."""
    ev = note.event
    body: dict[str, Any] = {"routing_key": routing_key, "event_action": ACTIONS[note.status],
                            "dedup_key": note.fingerprint}  # fmt: skip
    if note.status != "firing":
        return body
    body["payload"] = {
        "summary": ev.title[:1024],
        "source": str(ev.labels.get("host", ev.source or "watchkeeper")),
        "severity": ev.severity, "timestamp": iso(ev.last_seen),
        "component": str(ev.labels.get("task", "")) or None, "class": ev.key,
        "custom_details": {"message": ev.message, "count": ev.count, "notice": ev.notice,
                           "labels": ev.labels, **ev.details},
    }  # fmt: skip
    body["links"] = [{"href": url, "text": name} for name, url in links(ev, settings).items()]
    return body


@dataclass
class PagerDutyChannel:
    """Sends Events v2 to PagerDuty (or the configured URL)."""

    config: AlertChannel
    settings: AlertsSettings
    allow: Allowlist
    clock: Clock

    async def send(self, note: Note) -> Answer:
        """POST the event; PagerDuty answers ``202``."""
        body = json.dumps(pagerduty_body(note, self.config.routing_key or "", self.settings))
        return await http_answer(
            lambda: http.post(self.config.url or PAGERDUTY_EVENTS_URL, body.encode(),
                              http.json_headers(), allow=self.allow,
                              timeout_s=self.config.timeout),
            self.clock.time(), self.config.secret_values(),
        )  # fmt: skip
