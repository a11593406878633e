"""The notifier's channels: webhook, Slack, PagerDuty and e-mail."""

from __future__ import annotations

from services.reporter.notifier.channels.base import Answer, Channel, Note, missing, wants
from services.reporter.notifier.channels.email import EmailChannel
from services.reporter.notifier.channels.pagerduty import PagerDutyChannel
from services.reporter.notifier.channels.slack import SlackChannel
from services.reporter.notifier.channels.webhook import WebhookChannel
from services.reporter.notifier.safety import Allowlist
from shared.config.models import AlertChannel, AlertsSettings
from shared.runtime.clock import Clock


def build(config: AlertChannel, settings: AlertsSettings, clock: Clock) -> Channel:
    """The channel ``config`` describes (check :func:`missing` first)."""
    allow = Allowlist.parse(settings.allow_private_targets)
    if config.type == "email":
        return EmailChannel(config, settings, clock)
    if config.type == "slack":
        return SlackChannel(config, settings, allow, clock)
    if config.type == "pagerduty":
        return PagerDutyChannel(config, settings, allow, clock)
    return WebhookChannel(config, settings, allow, clock)


__all__ = ["Answer", "Channel", "Note", "build", "missing", "wants"]
