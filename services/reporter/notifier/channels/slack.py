"""Slack incoming-webhook channel: Block Kit with a ``text`` fallback, ≤ 1 message/s.

The pace is kept in Redis (a 1-second marker per channel), so several notifier replicas
sharing one webhook still stay under Slack's limit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from services.reporter.notifier import http
from services.reporter.notifier.channels.base import Answer, Note, headline, http_answer, links
from services.reporter.notifier.safety import Allowlist
from shared.config.models import AlertChannel, AlertsSettings
from shared.runtime.clock import Clock

PACE_S: Final = 1.0
"""Slack accepts about one message per second per incoming webhook."""
EMOJI: Final = {"critical": ":red_circle:", "warning": ":warning:", "info": ":information_source:",
                "resolved": ":white_check_mark:"}  # fmt: skip


def slack_body(note: Note, settings: AlertsSettings) -> dict[str, Any]:
    """The message: header, severity/task/status fields, the message or error, links."""
    ev = note.event
    emoji = EMOJI["resolved"] if note.status == "resolved" else EMOJI.get(ev.severity, "")
    text = f"{emoji} {headline(note)}".strip()
    fields = [f"*Severity:* {ev.severity}", f"*Status:* {note.status}"]
    if "task" in ev.labels:
        fields.append(f"*Task:* {ev.labels['task']}")
    fields.append(f"*Alert:* `{ev.key}` (×{ev.count})")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": text[:150], "emoji": True}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
    ]
    error = ev.details.get("last_error") or ev.details.get("error") or ev.message
    if error:
        quoted = {"type": "mrkdwn", "text": f"```{str(error)[:2900]}```"}
        blocks.append({"type": "section", "text": quoted})
    urls = links(ev, settings)
    if urls:
        shown = " · ".join(f"<{url}|{name}>" for name, url in urls.items())
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": shown}]})
    return {"text": f"{text} — {ev.message}" if ev.message else text, "blocks": blocks}


@dataclass
class SlackChannel:
    """POSTs Block Kit messages to an incoming webhook."""

    config: AlertChannel
    settings: AlertsSettings
    allow: Allowlist
    clock: Clock

    async def send(self, note: Note) -> Answer:
        """POST the message; Slack answers ``200 ok``."""
        body = json.dumps(slack_body(note, self.settings)).encode()
        return await http_answer(
            lambda: http.post(self.config.url or "", body, http.json_headers(),
                              allow=self.allow, timeout_s=self.config.timeout),
            self.clock.time(), self.config.secret_values(),
        )  # fmt: skip
