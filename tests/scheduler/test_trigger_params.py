"""Trigger params: a trigger may set only the params its task declares overridable, and
never a ``command``'s argv/env/cwd. A real scheduler (fake clock) and a real executor on
real Redis: the refused trigger is dead-lettered and never runs; an allowed one does."""

from __future__ import annotations

from pathlib import Path

from services.executor.service import Executor
from shared.contract.codec import decode, encode
from shared.contract.events import AlertRaised, TriggerEmergency, TriggerRun
from shared.contract.keys import Keys
from shared.runtime.clock import FakeClock
from shared.runtime.redis import Redis
from tests.executor.executor_support import make_config, pending_count, results, wait_for
from tests.scheduler.sched_support import T0, dues, make

QUICK = {"params": {"argv": ["sh", "-c", "exit 7"]}, "overridable_params": ["ok_exit_codes"],
         "emergency": True}  # fmt: skip


async def _dead_reasons(r: Redis, keys: Keys) -> list[str]:
    return [f[b"reason"].decode() for _, f in await r.xrange(keys.dead)]


async def test_a_trigger_cannot_override_argv_but_may_set_a_declared_param(
    r: Redis, keys: Keys, tmp_path: Path
) -> None:
    scheduler = await make(r, keys, FakeClock(T0), {"quick": QUICK})
    triggers = [
        TriggerRun(task="quick", params={"argv": ["false"]}),
        TriggerEmergency(task="quick", params={"env": {"LD_PRELOAD": "x"}}, reason="r"),
        TriggerRun(task="quick", params={"ok_exit_codes": [7], "cwd": "/"}),
        TriggerRun(task="quick", params={"ok_exit_codes": [7]}),
    ]
    for trigger in triggers:
        await r.xadd(keys.triggers, encode(trigger))  # type: ignore[arg-type]
    await scheduler.run_once()
    assert await _dead_reasons(r, keys) == [
        "param(s) argv may not be set by a trigger (overridable_params: ok_exit_codes)",
        "param(s) env may not be set by a trigger (overridable_params: ok_exit_codes)",
        "param(s) cwd may not be set by a trigger (overridable_params: ok_exit_codes)",
    ]
    alerts = [decode(f) for _, f in await r.xrange(keys.alerts_stream)]
    assert [a.key for a in alerts if isinstance(a, AlertRaised)] == [
        "scheduler.emergency_refused.quick"
    ]
    [due] = await dues(r, keys)
    assert due.params == {"argv": ["sh", "-c", "exit 7"], "ok_exit_codes": [7]}
    assert await dues(r, keys, "critical") == []

    executor = Executor(r, make_config(keys, tmp_path))
    await executor.start()

    async def finished() -> bool:
        await executor.run_once(block_ms=20)
        return bool(await results(r, keys)) and not executor.inflight

    await wait_for(finished, 15, "the allowed run's result", every_s=0)
    [result] = await results(r, keys)  # the refused triggers never ran
    assert (result.status, result.details["argv"]) == ("succeeded", ["sh", "-c", "exit 7"])
    assert await pending_count(r, keys) == 0
