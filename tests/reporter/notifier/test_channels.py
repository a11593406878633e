"""E-mail through a real SMTP server (aiosmtpd, STARTTLS, AUTH) and PagerDuty Events v2
(trigger, acknowledge, resolve on one dedup_key) against a local receiver."""

from __future__ import annotations

import datetime as dt
import email
import ipaddress
import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.reporter.alerting.store import AlertStore
from services.reporter.alerting.transition import Observation
from services.reporter.notifier.service import Notifier
from shared.contract import alerts
from shared.contract.keys import Keys
from shared.runtime.embedded import free_port
from shared.runtime.redis import Redis
from tests.reporter.alert_support import Receiver, alert_config

T0 = 1_800_000_000.0


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = tmp / "smtp.crt", tmp / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_file, key_file


class Inbox:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[Envelope] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 2.0.0 queued as 42"


def _auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.password == b"s3cret-smtp"
    return AuthResult(success=ok)


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[tuple[Inbox, int, Path]]:
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=context,
                            require_starttls=True, authenticator=_auth,
                            auth_require_tls=True)  # fmt: skip
    controller.start()
    yield inbox, port, cert
    controller.stop()


async def test_email_over_starttls_with_text_and_html(
    r: Redis, keys: Keys, smtp: tuple[Inbox, int, Path]
) -> None:
    inbox, port, cert = smtp
    config = alert_config(keys, [{
        "type": "email", "smtp_host": "127.0.0.1", "smtp_port": port, "username": "wk",
        "password": "s3cret-smtp", "ca_file": str(cert), "sender": "watchkeeper@desk.test",
        "to": ["ops@desk.test"],
    }], dashboard_url="https://wk.desk.test")  # fmt: skip
    notifier = Notifier(r, config)
    await notifier.start()
    await AlertStore.of(r, keys, config.alerts).raise_(Observation(
        key="task.stale:backup", severity="warning", title="backup is stale",
        message="2 expected runs did not finish", labels={"task": "backup"}, at=T0))  # fmt: skip
    await notifier.run_once(block_ms=None)

    (envelope,) = inbox.messages
    assert envelope.rcpt_tos == ["ops@desk.test"]
    message = email.message_from_bytes(envelope.original_content or b"")
    assert message["Subject"] == "[WARNING] backup is stale"
    parts = {p.get_content_type(): p.get_payload(decode=True).decode() for p in message.walk()
             if not p.is_multipart()}  # fmt: skip
    assert "2 expected runs did not finish" in parts["text/plain"]
    assert "<table>" in parts["text/html"] and "https://wk.desk.test/" in parts["text/html"]
    (record,) = [await r.hgetall(k) async for k in r.scan_iter(match=f"{keys.ns}:outbox:[0-9a-f]*")]
    assert record[b"state"] == b"sent" and b"queued as 42" in record[b"answer"]


async def test_pagerduty_trigger_acknowledge_resolve_on_one_dedup_key(r: Redis, keys: Keys) -> None:
    pd = Receiver(answers=[(202, {})] * 3)
    url = await pd.start()
    try:
        config = alert_config(keys, [{"type": "pagerduty", "url": url, "routing_key": "R0UTING"}])
        notifier = Notifier(r, config)
        await notifier.start()
        store = AlertStore.of(r, keys, config.alerts)
        down = Observation(key="probe.gateway", severity="critical", title="gateway down",
                           labels={"task": "health"}, at=T0)  # fmt: skip
        await store.raise_(down)
        await notifier.run_once(block_ms=None)
        await alerts.acknowledge(r, keys, "probe.gateway", by="ops", now=T0 + 60)
        await notifier.run_once(block_ms=None)
        await store.resolve("probe.gateway", T0 + 120)
        await notifier.run_once(block_ms=None)
    finally:
        await pd.stop()
    bodies = [json.loads(q.body) for q in pd.requests]
    assert [b["event_action"] for b in bodies] == ["trigger", "acknowledge", "resolve"]
    assert len({b["dedup_key"] for b in bodies}) == 1
    assert {b["routing_key"] for b in bodies} == {"R0UTING"}
    assert bodies[0]["payload"]["severity"] == "critical"
    assert bodies[0]["payload"]["component"] == "health"
