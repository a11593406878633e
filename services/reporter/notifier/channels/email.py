"""E-mail channel: a text and an HTML part over SMTP (aiosmtplib; STARTTLS by default)."""

from __future__ import annotations

import html
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib

from services.reporter.notifier.channels.base import Answer, Note, headline, iso, links
from shared.config.models import AlertChannel, AlertsSettings
from shared.runtime.clock import Clock
from shared.runtime.logging import redact_text


def _rows(note: Note, settings: AlertsSettings) -> list[tuple[str, str]]:
    ev = note.event
    rows = [("Status", note.status), ("Severity", ev.severity), ("Alert", ev.key),
            ("First seen", iso(ev.first_seen)), ("Last seen", iso(ev.last_seen)),
            ("Count", str(ev.count))]  # fmt: skip
    rows += [(k.capitalize(), str(v)) for k, v in sorted(ev.labels.items())]
    rows += [(name.capitalize(), url) for name, url in links(ev, settings).items()]
    return rows


def message(note: Note, config: AlertChannel, settings: AlertsSettings) -> EmailMessage:
    """The e-mail for ``note``: plain text first, HTML as the alternative."""
    ev, rows = note.event, _rows(note, settings)
    msg = EmailMessage()
    msg["Subject"] = headline(note)
    msg["From"] = config.sender or ""
    msg["To"] = ", ".join(config.to)
    msg["Message-ID"] = f"<{note.delivery_id}@watchkeeper>"
    text = "\n".join([ev.title, "", ev.message, "", *(f"{k}: {v}" for k, v in rows)])
    msg.set_content(text)
    cells = "".join(f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                    for k, v in rows)  # fmt: skip
    msg.add_alternative(
        f"<html><body><h2>{html.escape(headline(note))}</h2><p>{html.escape(ev.message)}</p>"
        f"<table>{cells}</table></body></html>",
        subtype="html",
    )
    return msg


@dataclass
class EmailChannel:
    """Sends through the configured SMTP relay."""

    config: AlertChannel
    settings: AlertsSettings
    clock: Clock

    def _tls(self) -> ssl.SSLContext | None:
        if self.config.smtp_tls == "none":
            return None
        return ssl.create_default_context(cafile=self.config.ca_file)

    async def send(self, note: Note) -> Answer:
        """Hand the message to the relay; its reply is the answer."""
        c = self.config
        try:
            _, reply = await aiosmtplib.send(
                message(note, c, self.settings), hostname=c.smtp_host, port=c.smtp_port,
                username=c.username, password=c.password, timeout=c.timeout,
                use_tls=c.smtp_tls == "tls", start_tls=c.smtp_tls == "starttls",
                tls_context=self._tls(),
            )  # fmt: skip
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            why = redact_text(str(exc) or type(exc).__name__, c.secret_values())
            return Answer(False, f"{type(exc).__name__}: {why}")
        return Answer(True, f"SMTP {redact_text(reply, c.secret_values())}")
