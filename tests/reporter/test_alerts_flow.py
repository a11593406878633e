"""From a failing command to a signed webhook and back: executor, reporter and notifier on
real Redis, a real HTTP receiver, the Standard Webhooks reference verifier; and a canary
secret that must appear nowhere."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook
from structlog.testing import capture_logs

from services.executor.service import Executor
from services.reporter.notifier.service import Notifier
from services.reporter.service import Reporter
from shared.config.models import Config
from shared.contract.keys import Keys
from shared.runtime.logging import add_secrets
from shared.runtime.redis import Redis
from tests.executor.executor_support import executor_settings, make_due, publish_due, wait_for
from tests.reporter.alert_support import LOOPBACK, Receiver

CANARY = "canary-7f3e9b1c5a"
SECRET = "whsec_" + base64.b64encode(f"{CANARY}-signing-key".encode()).decode()


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    await receiver.start()
    yield receiver
    await receiver.stop()


def _config(keys: Keys, tmp: Path, url: str) -> Config:
    channels = [
        {"type": "webhook", "url": url, "secret": SECRET},
        {"type": "email", "smtp_host": "127.0.0.1", "smtp_port": 9, "sender": "wk@x",
         "to": ["ops@x"], "username": "wk", "password": f"{CANARY}-smtp", "min_severity":
         "critical", "timeout": 0.5},
        {"type": "pagerduty", "routing_key": f"{CANARY}-routing", "url": url,
         "min_severity": "critical"},
    ]  # fmt: skip
    return Config.model_validate({
        "namespace": keys.ns, "executor": executor_settings(tmp),
        "alerts": {"channels": channels, "allow_private_targets": LOOPBACK},
    })  # fmt: skip


async def _run(r: Redis, keys: Keys, executor: Executor, reporter: Reporter, *argv: str) -> None:
    due = make_due("command", task="flaky", params={"argv": list(argv)})
    await publish_due(r, keys, due)

    async def finished() -> bool:
        await executor.run_once(block_ms=20)
        await reporter.run_once(block_ms=20)
        return bool(await r.exists(keys.result(due.run_id)))

    await wait_for(finished, 20, f"the result of {argv}", every_s=0)


async def _everything_stored(r: Redis, keys: Keys) -> str:
    """Every value under the test's namespace, as text (hashes, streams, strings)."""
    out: list[str] = []
    async for key in r.scan_iter(match=f"{keys.ns}:*"):
        kind = (await r.type(key)).decode()
        value: Any = {"hash": r.hgetall, "stream": r.xrange, "string": r.get,
                      "zset": lambda k: r.zrange(k, 0, -1)}.get(kind, r.type)(key)  # fmt: skip
        out.append(repr(await value))
    return "\n".join(out)


async def test_failures_raise_one_signed_alert_then_one_resolve(
    r: Redis, keys: Keys, tmp_path: Path, hook: Receiver
) -> None:
    config = _config(keys, tmp_path, hook.url)
    add_secrets(config.secrets())
    executor, reporter, notifier = Executor(r, config), Reporter(r, config), Notifier(r, config)
    for service in (executor, reporter, notifier):
        await service.start()
    with capture_logs() as logs:
        for n in range(1, 7):
            await _run(r, keys, executor, reporter, "false")
            await notifier.run_once(block_ms=20)
            if n == 4:  # three failures announced once; the fourth only counted
                assert len(hook.requests) == 1
        await _run(r, keys, executor, reporter, "true")
        for _ in range(3):
            await notifier.run_once(block_ms=20)
        await executor.drain(0)

    webhook = [q for q in hook.requests if "webhook-id" in q.headers]
    firing, escalated, resolved = (Webhook(SECRET).verify(q.body, q.headers) for q in webhook)
    assert [firing["status"], resolved["status"]] == ["firing", "resolved"]
    assert escalated["commonLabels"]["severity"] == "critical"  # six in a row
    (alert,) = firing["alerts"]
    assert alert["labels"]["alertname"] == "task.consecutive_failures:flaky"
    assert alert["labels"]["task"] == "flaky" and alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert firing["watchkeeper"]["details"]["consecutive_failures"] == 3
    assert resolved["alerts"][0]["fingerprint"] == alert["fingerprint"]
    assert len({q.headers["webhook-id"] for q in webhook}) == 3
    paged = [q for q in hook.requests if "webhook-id" not in q.headers]
    assert [p.body.count(b'"event_action"') for p in paged] == [1, 1]  # trigger, resolve
    assert b'"event_action": "trigger"' in paged[0].body and CANARY.encode() in paged[0].body

    # The canary (signing key, SMTP password, routing key) is nowhere but on the wire.
    assert not any(CANARY in repr(line) for line in logs)
    assert CANARY not in await _everything_stored(r, keys)
    assert any(e["event"] == "notifier.sent" for e in logs)
    assert any(e["event"] == "notifier.retry" and e["channel"] == "email" for e in logs)
