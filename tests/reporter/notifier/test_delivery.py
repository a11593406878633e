"""Delivery through the outbox to real HTTP receivers on loopback: retries, Retry-After,
channels independent of each other, signatures the reference verifier accepts."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
from standardwebhooks.webhooks import Webhook

from services.reporter.alerting.store import AlertStore
from services.reporter.alerting.transition import Observation
from services.reporter.notifier.outbox import counter
from services.reporter.notifier.service import Notifier
from shared.contract import alerts
from shared.contract.codec import encode
from shared.contract.events import AlertRaised
from shared.contract.keys import NOTIFIER_GROUP, Keys
from shared.runtime.redis import Redis
from tests.reporter.alert_support import Receiver, alert_config, until

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
T0 = 1_800_000_000.0


@pytest.fixture
async def receivers() -> AsyncIterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for receiver in made:
        await receiver.stop()


async def _started(made: list[Receiver], receiver: Receiver) -> Receiver:
    await receiver.start()
    made.append(receiver)
    return receiver


async def _count(r: Redis, keys: Keys, channel: str, outcome: str) -> int:
    return int(await r.get(counter(keys, channel, outcome)) or 0)


async def test_retry_after_is_honoured_and_slack_does_not_wait(
    r: Redis, keys: Keys, receivers: list[Receiver]
) -> None:
    hook = await _started(receivers, Receiver(answers=[(500, {}), (500, {}),
                                                       (429, {"Retry-After": "1"})]))  # fmt: skip
    slack = await _started(receivers, Receiver())
    config = alert_config(keys, [{"type": "webhook", "url": hook.url, "secret": SECRET},
                                 {"type": "slack", "url": slack.url}])  # fmt: skip
    notifier = Notifier(r, config)
    stop = asyncio.Event()
    serving = asyncio.create_task(notifier.run(stop))
    await AlertStore.of(r, keys, config.alerts).raise_(Observation(
        key="task.consecutive_failures:backup", severity="critical", title="backup failed",
        labels={"task": "backup"}, at=time.time()))  # fmt: skip
    try:
        await hook.wait_for(4, timeout_s=15)
        await until(lambda: _count(r, keys, "webhook", "sent"))
    finally:
        stop.set()
        await serving

    _, _, limited, done = hook.requests
    assert len({req.headers["webhook-id"] for req in hook.requests}) == 1
    assert done.at - limited.at >= 1.0  # waited out Retry-After: 1
    assert len(slack.requests) == 1 and slack.requests[0].at < limited.at
    assert [await _count(r, keys, "webhook", o) for o in ("sent", "failed", "gave_up")] == [1, 3, 0]
    assert await _count(r, keys, "slack", "sent") == 1
    body = Webhook(SECRET).verify(done.body, done.headers)
    assert body["version"] == "4" and body["status"] == "firing"
    assert body["alerts"][0]["labels"]["alertname"] == "task.consecutive_failures:backup"
    message = json.loads(slack.requests[0].body)
    assert "backup failed" in message["text"] and message["blocks"][0]["type"] == "header"


async def test_a_dead_channel_gives_up_into_the_dead_letters(
    r: Redis, keys: Keys, receivers: list[Receiver]
) -> None:
    hook = await _started(receivers, Receiver(answers=[(503, {})] * 10))
    config = alert_config(keys, [{"type": "webhook", "url": hook.url}],
                          delivery={"first_backoff": 0.01, "max_backoff": 0.02,
                                    "max_attempts": 3})  # fmt: skip
    notifier = Notifier(r, config)
    await notifier.start()
    await AlertStore.of(r, keys, config.alerts).raise_(
        Observation(key="k", severity="warning", title="t", at=time.time())
    )

    async def gave_up() -> int:
        await notifier.run_once(block_ms=20)
        return await _count(r, keys, "webhook", "gave_up")

    await until(gave_up)
    assert len(hook.requests) == 3
    ((_, dead),) = await r.xrange(keys.dead)
    assert dead[b"source"] == b"outbox" and dead[b"alert_key"] == b"k"
    assert b"HTTP 503" in dead[b"reason"] and b"3 attempt" in dead[b"reason"]
    assert dead[b"orig_type"] == b"alert.raised"


async def test_circuit_opens_after_repeated_failures(
    r: Redis, keys: Keys, receivers: list[Receiver]
) -> None:
    hook = await _started(receivers, Receiver(answers=[(500, {})] * 10))
    config = alert_config(keys, [{"type": "webhook", "url": hook.url}],
                          delivery={"first_backoff": 0.0, "max_backoff": 0.0, "max_attempts": 50,
                                    "circuit_failures": 2, "circuit_open": 3600})  # fmt: skip
    notifier = Notifier(r, config)
    await notifier.start()
    await AlertStore.of(r, keys, config.alerts).raise_(
        Observation(key="k", severity="warning", title="t", at=time.time())
    )
    for _ in range(6):
        await notifier.run_once(block_ms=20)
    assert len(hook.requests) == 2  # then the circuit holds the delivery back
    assert await r.zcard(keys.outbox_due("webhook")) == 1


async def test_info_notices_from_other_producers_are_each_delivered_once(
    r: Redis, keys: Keys, receivers: list[Receiver]
) -> None:
    hook = await _started(receivers, Receiver())
    config = alert_config(keys, [{"type": "webhook", "url": hook.url}])
    notifier = Notifier(r, config)
    await notifier.start()
    for day in ("2026-03-10", "2026-03-11"):
        ready = AlertRaised(alert_id=f"report.daily.{day}", key="report.daily", severity="info",
                            title=f"daily report {day} is ready", message="", source="reporter",
                            first_seen=T0, last_seen=T0)  # fmt: skip
        await r.xadd(keys.alerts_stream, encode(ready))  # type: ignore[arg-type]
    await notifier.run_once(block_ms=None)
    await r.xgroup_setid(keys.alerts_stream, NOTIFIER_GROUP, "0")  # read both again
    await notifier.run_once(block_ms=None)
    titles = [json.loads(q.body)["commonAnnotations"]["summary"] for q in hook.requests]
    assert titles == ["daily report 2026-03-10 is ready", "daily report 2026-03-11 is ready"]
    assert await alerts.active(r, keys) == []  # a notice, not a standing alert
