"""The alert store on real Redis: dedupe, escalation, cooldown across restarts, reminders,
acknowledge and silence; the reporter raising and resolving through it."""

from __future__ import annotations

import itertools

from services.reporter.alerting.store import AlertStore
from services.reporter.alerting.transition import Observation
from services.reporter.notifier.service import Notifier
from services.reporter.service import Reporter
from shared.config.models import Config
from shared.contract import alerts
from shared.contract.codec import encode
from shared.contract.events import AlertAcknowledged, AlertRaised, AlertResolved, TaskResult
from shared.contract.keys import NOTIFIER_GROUP, Keys
from shared.runtime.clock import FakeClock
from shared.runtime.redis import Redis, client
from tests.reporter.alert_support import Receiver, alert_config, stream_events
from tests.support.proxy import FaultProxy

T0 = 1_800_000_000.0
_runs = itertools.count()


def _result(status: str, at: float, task: str = "nightly") -> TaskResult:
    return TaskResult(
        run_id=f"{task}:{next(_runs)}", task=task, handler="command", attempt=1,
        trigger="schedule", scheduled_for=at, status=status, started_at=at - 1,
        finished_at=at, duration_s=1.0, executor="e1", message=f"exit {status}",
        error=None if status == "succeeded" else {"type": "HandlerError", "message": "exit 1"},
    )  # fmt: skip


async def _feed(reporter: Reporter, r: Redis, keys: Keys, *statuses: str) -> None:
    for status in statuses:
        await r.xadd(keys.results, encode(_result(status, reporter.clock.time())))  # type: ignore[arg-type]
    await reporter.run_once(block_ms=None)


def _notices(events: list[object]) -> list[tuple[str, str | None]]:
    return [(e.key, e.notice) for e in events if isinstance(e, AlertRaised | AlertResolved)]


async def test_cooldown_holds_across_reporter_and_notifier_restarts(r: Redis, keys: Keys) -> None:
    clock = FakeClock(T0)
    config = Config(namespace=keys.ns)
    first = Reporter(r, config, clock=clock)
    await first.start()
    await _feed(first, r, keys, "failed", "failed", "failed", "failed")
    await _feed(first, r, keys, "succeeded")
    key = "task.consecutive_failures:nightly"
    assert _notices(await stream_events(r, keys)) == [(key, "firing"), (key, "resolved")]

    clock.advance(300)  # a restarted reporter, 5 minutes later, inside the 15-minute cooldown
    second = Reporter(r, config, clock=clock)
    await _feed(second, r, keys, "failed", "failed", "failed")
    assert len(_notices(await stream_events(r, keys))) == 2  # held back, not announced
    held = await alerts.get(r, keys, key)
    assert held is not None and held.active and held.held

    clock.advance(600)  # the cooldown is over: the sweep announces the held raise
    await second.alerts.sweep()
    assert _notices(await stream_events(r, keys))[2:] == [(key, "firing")]


async def test_a_restarted_notifier_sends_nothing_twice(r: Redis, keys: Keys) -> None:
    hook = Receiver()
    await hook.start()
    try:
        config = alert_config(keys, [{"type": "webhook", "url": hook.url}])
        store = AlertStore.of(r, keys, config.alerts)
        await store.raise_(Observation(key="k", severity="warning", title="t", at=T0))
        await store.resolve("k", T0 + 60)
        for _ in range(2):  # the second notifier re-reads the whole stream from the start
            notifier = Notifier(r, config)
            await notifier.start()
            await r.xgroup_setid(keys.alerts_stream, NOTIFIER_GROUP, "0")
            while await notifier.run_once(block_ms=None):
                pass
        assert len(hook.requests) == 2  # one firing, one resolved
    finally:
        await hook.stop()


async def test_dedupe_escalation_and_reminders_until_acknowledged(r: Redis, keys: Keys) -> None:
    config = alert_config(keys, [], reminder="1h")
    store = AlertStore.of(r, keys, config.alerts)

    def seen(severity: str, at: float) -> Observation:
        return Observation(key="system.disk", severity=severity, title="disk", at=at)

    notices = [
        (await store.raise_(seen("warning", T0))).notice,
        (await store.raise_(seen("warning", T0 + 60))).notice,  # a repeat only counts
        (await store.raise_(seen("critical", T0 + 120))).notice,  # escalation, no cooldown
        (await store.raise_(seen("critical", T0 + 1800))).notice,
        (await store.raise_(seen("critical", T0 + 120 + 3600))).notice,
    ]
    assert notices == ["firing", None, "escalated:critical", None, "reminder:2"]
    assert (await store.remind("system.disk", T0 + 120 + 7200)).notice == "reminder:3"  # type: ignore[union-attr]
    record = await alerts.get(r, keys, "system.disk")
    assert record is not None and record.count == 5 and record.severity == "critical"

    acked = await alerts.acknowledge(r, keys, "system.disk", by="ops@desk", now=T0 + 7300)
    assert acked is not None and acked.acked_by == "ops@desk"
    assert await store.remind("system.disk", T0 + 20000) is None  # acknowledged: no reminders
    events = await stream_events(r, keys)
    assert isinstance(events[-1], AlertAcknowledged) and events[-1].acked_by == "ops@desk"
    assert await alerts.acknowledge(r, keys, "no.such", by="x", now=T0) is None


async def test_silence_holds_announcements_until_it_ends(r: Redis, keys: Keys) -> None:
    store = AlertStore.of(r, keys, alert_config(keys, []).alerts)
    await store.raise_(Observation(key="probe.gateway", severity="critical", title="t", at=T0))
    silenced = await alerts.silence(r, keys, "probe.gateway", until=T0 + 7200, by="me", now=T0)
    assert silenced is not None and silenced.silenced(T0 + 100)
    await store.resolve("probe.gateway", T0 + 100)
    again = await store.raise_(Observation(key="probe.gateway", severity="critical", title="t",
                                           at=T0 + 2000))  # fmt: skip
    assert again.notice is None and again.record.held  # silenced (and cooling down)
    assert await store.remind("probe.gateway", T0 + 7000) is None
    assert (await store.remind("probe.gateway", T0 + 7201)).notice == "firing"  # type: ignore[union-attr]
    log = [entry["action"] for entry in reversed(await alerts.history(r, keys))]
    assert log == ["firing", "silenced", "resolved", "held", "firing"]
    assert [a.key for a in await alerts.active(r, keys)] == ["probe.gateway"]
    assert await alerts.active_by_severity(r, keys) == {"critical": 1, "warning": 0, "info": 0}


async def test_an_ack_or_silence_retried_after_a_lost_reply_is_announced_once(
    r: Redis, keys: Keys, redis_url: str
) -> None:
    """EXEC ran, its reply was cut: the client retries the transaction from the read,
    finds the alert already acknowledged (silenced) and writes nothing more."""
    store = AlertStore.of(r, keys, alert_config(keys, []).alerts)
    await store.raise_(Observation(key="probe.gateway", severity="critical", title="t", at=T0))
    proxy = await FaultProxy.before(redis_url).start()
    via = client(proxy.url)
    try:
        proxy.cut_reply_to(b"EXEC")
        acked = await alerts.acknowledge(via, keys, "probe.gateway", by="ops", now=T0 + 60)
        assert acked is not None and acked.acked_by == "ops" and proxy.cuts == 1
        proxy.cut_reply_to(b"EXEC")
        until = T0 + 7200
        silenced = await alerts.silence(via, keys, "probe.gateway", until=until, by="me", now=T0)
        assert silenced is not None and silenced.silenced_until == until and proxy.cuts == 2
    finally:
        await via.aclose()
        await proxy.stop()
    events = await stream_events(r, keys)
    assert sum(isinstance(e, AlertAcknowledged) for e in events) == 1
    log = [entry["action"] for entry in reversed(await alerts.history(r, keys))]
    assert log == ["firing", "acknowledged", "silenced"]
