"""A ``watchkeeper notifier`` process killed with SIGKILL between sending and recording:
the delivery comes again under the same webhook-id, and nothing is lost."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import yaml

from services.reporter.alerting.store import AlertStore
from services.reporter.alerting.transition import Observation
from services.reporter.notifier.outbox import counter
from services.reporter.notifier.service import Notifier
from shared.config.loader import load_config
from shared.contract.keys import Keys
from shared.runtime.redis import Redis
from tests.reporter.alert_support import LOOPBACK, Receiver, until
from tests.support.processes import cli_env, kill_all, spawn


async def test_kill_9_between_send_and_record(
    r: Redis, keys: Keys, redis_url: str, tmp_path: Path
) -> None:
    hold = asyncio.Event()
    hook = Receiver(hold=hold)
    await hook.start()
    config_file = tmp_path / "watchkeeper.yml"
    config_file.write_text(yaml.safe_dump({
        "namespace": keys.ns, "logging": {"json": True},
        "alerts": {"channels": [{"type": "webhook", "url": hook.url, "timeout": "2s",
                                 "secret": "${WK_TEST_HOOK_SECRET}"}],
                   "allow_private_targets": LOOPBACK,
                   "delivery": {"first_backoff": 0.05, "lease_margin": 0.5}},
    }))  # fmt: skip
    env = {"WK_TEST_HOOK_SECRET": "whsec_c2VjcmV0LWZvci10aGUta2lsbC10ZXN0"}
    config = load_config(config_file, env=env).config
    store = AlertStore.of(r, keys, config.alerts)
    for key in ("gateway.down", "disk.full"):
        await store.raise_(Observation(key=key, severity="critical", title=key, at=time.time()))

    proc = spawn("notifier", config_file, env=cli_env(redis_url, **env))
    try:
        (first,) = await hook.wait_for(1, timeout_s=30)  # sent, the answer not yet read
        proc.kill()
        proc.wait(timeout=10)
    finally:
        kill_all([proc])
    hold.set()

    restarted = Notifier(r, config)
    await restarted.start()

    async def both_recorded() -> bool:
        await restarted.run_once(block_ms=50)
        return int(await r.get(counter(keys, "webhook", "sent")) or 0) == 2

    try:
        await until(both_recorded, timeout_s=20)
    finally:
        await hook.stop()
    ids = [req.headers["webhook-id"] for req in hook.requests]
    assert len(set(ids)) == 2  # both alerts arrived: nothing lost
    assert ids.count(first.headers["webhook-id"]) == 2  # the interrupted one, same id again
    assert len(ids) == 3  # and nothing else came twice
