"""Webhook channel: an Alertmanager v4-shaped JSON body, signed per Standard Webhooks.

Headers: ``webhook-id`` (``msg_<delivery id>``: the same on every retry of one delivery,
so a receiver can drop a repeat), ``webhook-timestamp`` (epoch seconds of this attempt)
and ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``. The key is
the channel ``secret``: ``whsec_<base64>`` as the specification writes it (the bytes
after decoding), or any other text, used as its UTF-8 bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from services.reporter.notifier import http
from services.reporter.notifier.channels.base import Answer, Note, compact, http_answer, iso, links
from services.reporter.notifier.safety import Allowlist
from shared.config.models import AlertChannel, AlertsSettings
from shared.runtime.clock import Clock

NEVER: str = "0001-01-01T00:00:00Z"
"""Alertmanager's ``endsAt`` for an alert still firing."""


def signing_key(secret: str) -> bytes:
    """The HMAC key a channel ``secret`` stands for (see the module docstring)."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[len("whsec_") :] + "==")
        except binascii.Error:
            return secret.encode()  # not base64 after all: the text itself is the key
    return secret.encode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 signature>`` of ``msg_id.timestamp.body``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def alertmanager_body(note: Note, settings: AlertsSettings, receiver: str) -> dict[str, Any]:
    """The JSON body: Alertmanager's webhook v4 shape plus a ``watchkeeper`` object."""
    ev, resolved = note.event, note.status == "resolved"
    status = "resolved" if resolved else "firing"
    labels = {"alertname": ev.key, "severity": ev.severity,
              **{k: str(v) for k, v in ev.labels.items()}}  # fmt: skip
    annotations = compact({"summary": ev.title, "description": ev.message})
    urls = links(ev, settings)
    alert = {"status": status, "labels": labels, "annotations": annotations,
             "startsAt": iso(ev.first_seen), "endsAt": iso(ev.last_seen) if resolved else NEVER,
             "generatorURL": urls.get("run", urls.get("dashboard", "")),
             "fingerprint": note.fingerprint}  # fmt: skip
    return {
        "version": "4", "groupKey": f'{{}}:{{alertname="{ev.key}"}}', "truncatedAlerts": 0,
        "status": status, "receiver": receiver, "groupLabels": {"alertname": ev.key},
        "commonLabels": labels, "commonAnnotations": annotations,
        "externalURL": settings.dashboard_url or "", "alerts": [alert],
        "watchkeeper": {"alert_id": ev.alert_id, "key": ev.key, "notice": ev.notice,
                        "count": ev.count, "source": ev.source, "first_seen": ev.first_seen,
                        "last_seen": ev.last_seen, "details": ev.details, "links": urls},
    }  # fmt: skip


@dataclass
class WebhookChannel:
    """POSTs signed Alertmanager-shaped JSON."""

    config: AlertChannel
    settings: AlertsSettings
    allow: Allowlist
    clock: Clock

    def request(self, note: Note) -> tuple[bytes, dict[str, str]]:
        """The body and headers of one attempt (the timestamp is the attempt's)."""
        body = json.dumps(alertmanager_body(note, self.settings, self.config.key)).encode()
        msg_id, stamp = f"msg_{note.delivery_id}", int(self.clock.time())
        extra = {"webhook-id": msg_id, "webhook-timestamp": str(stamp)}
        if self.config.secret:
            extra["webhook-signature"] = sign(self.config.secret, msg_id, stamp, body)
        return body, http.json_headers(**extra)

    async def send(self, note: Note) -> Answer:
        """POST the note; any 2xx is delivered."""
        assert self.config.url is not None  # channels without one are never built
        body, headers = self.request(note)
        return await http_answer(
            lambda: http.post(self.config.url or "", body, headers, allow=self.allow,
                              timeout_s=self.config.timeout),
            self.clock.time(), self.config.secret_values(),
        )  # fmt: skip
