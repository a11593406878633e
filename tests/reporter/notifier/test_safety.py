"""SSRF: loopback, private, link-local and metadata targets are refused unless listed."""

from __future__ import annotations

import time

import pytest

from services.reporter.alerting.store import AlertStore
from services.reporter.alerting.transition import Observation
from services.reporter.notifier.safety import Allowlist, TargetRefused, resolve_target
from services.reporter.notifier.service import Notifier
from shared.contract.keys import Keys
from shared.runtime.redis import Redis
from tests.reporter.alert_support import Receiver, alert_config, until

REFUSED = [
    ("http://127.0.0.1:9/hook", "loopback"),
    ("http://10.0.0.1/hook", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[::1]:9/hook", "loopback"),
    ("http://localhost:9/hook", "loopback"),  # a name resolving to loopback
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),
    ("http://100.64.0.1/hook", "non-public"),
]


@pytest.mark.parametrize(("url", "why"), REFUSED)
async def test_private_targets_are_refused_by_default(url: str, why: str) -> None:
    with pytest.raises(TargetRefused) as info:
        await resolve_target(url, Allowlist.parse([]))
    assert why in str(info.value)
    assert "allow_private_targets" in str(info.value)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [("http://127.0.0.1:9/hook", ["127.0.0.1"]), ("http://10.0.0.1/hook", ["10.0.0.0/8"]),
     ("http://[::1]:9/hook", ["::1"]), ("http://localhost:9/hook", ["localhost"]),
     ("http://169.254.169.254/", ["169.254.169.254/32"])],
)  # fmt: skip
async def test_listed_targets_are_allowed_and_pinned(url: str, allowed: list[str]) -> None:
    target = await resolve_target(url, Allowlist.parse(allowed))
    assert target.address in ("127.0.0.1", "::1", "10.0.0.1", "169.254.169.254")


async def test_public_addresses_pass_without_a_list() -> None:
    target = await resolve_target("https://93.184.215.14/x", Allowlist.parse([]))
    assert (target.address, target.port) == ("93.184.215.14", 443)


async def test_a_refused_channel_gives_up_at_once_with_the_reason(r: Redis, keys: Keys) -> None:
    receiver = Receiver()
    url = await receiver.start()
    try:
        config = alert_config(keys, [{"type": "webhook", "url": url}], allow_private_targets=[])
        notifier = Notifier(r, config)
        await notifier.start()
        await AlertStore.of(r, keys, config.alerts).raise_(
            Observation(key="k", severity="critical", title="t", at=time.time())
        )

        async def dead() -> list[object]:
            await notifier.run_once(block_ms=20)
            return list(await r.xrange(keys.dead))

        ((_, entry),) = await until(dead)
    finally:
        await receiver.stop()
    assert receiver.requests == []  # nothing ever reached the loopback receiver
    assert b"refused to connect to 127.0.0.1: loopback address" in entry[b"reason"]
