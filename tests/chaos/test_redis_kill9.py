"""Redis killed with -9 mid-flow and restarted on the same data dir (AOF, ``appendfsync
always``): every acknowledged result is still there, the consumer groups and their
pending lists are exactly as they were, and the runs in flight complete afterwards.

The services (real processes) are frozen for the instant of the kill, so the state read
before it can be compared with the state after, entry for entry; then they go on.
(kill -9 of the process proves the AOF replay: Redis writes the AOF before it replies,
so even ``everysec`` survives it; ``always`` is what also survives losing the machine.)
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from shared.runtime.embedded import EmbeddedRedis
from shared.runtime.redis import Redis, text
from tests.chaos.chaos_handlers import append
from tests.chaos.fleet import NS, Fleet, fleet_config
from tests.chaos.flow import KEYS, final_state, flowing, holds, wait_drained
from tests.chaos.oplog import check
from tests.executor.executor_support import wait_for

pytestmark = pytest.mark.chaos

SERVICES = ("scheduler-0", "executor-0", "executor-1", "reporter-0")
RUNS = 300


async def snapshot(r: Redis) -> dict[str, Any]:
    """Every stream's entries, groups and pending lists, and the result hashes."""
    state: dict[str, Any] = {}
    async for raw in r.scan_iter(f"{NS}:stream:*", _type="stream"):
        name = text(raw)
        groups: dict[str, Any] = {}
        for g in await r.xinfo_groups(name):
            group = text(g["name"])
            pel: Any = await r.xpending_range(name, group, "-", "+", 10_000)
            pairs = [(text(p["message_id"]), text(p["consumer"])) for p in pel]
            groups[group] = (text(g["last-delivered-id"]), pairs)
        state[name] = {"ids": [text(i) for i, _ in await r.xrange(name)], "groups": groups}
    state["result hashes"] = sorted([text(k) async for k in r.scan_iter(KEYS.result("*"))])
    return state


async def test_redis_kill_9_loses_no_acknowledged_write(
    durable: EmbeddedRedis, r: Redis, tmp_path: Path, fleets: list[Fleet]
) -> None:
    oplog = tmp_path / "oplog"
    fleet = Fleet(tmp_path, durable.url, fleet_config(tmp_path, oplog))
    fleets.append(fleet)
    async with flowing(r, fleet, oplog, SERVICES) as (producer, watcher):
        for _ in range(RUNS):
            await producer.trigger()
        await wait_for(lambda: holds(len(watcher.seen) >= RUNS // 3), 30, "a third answered")
        for name in SERVICES:  # freeze the flow mid-way, then kill Redis under it
            append(str(oplog), f"fault stop {name} {fleet.freeze(name)}")
        before = await snapshot(r)
        await asyncio.to_thread(durable.kill)
        await asyncio.to_thread(durable.start)
        after = await snapshot(r)
        for name in SERVICES:
            fleet.thaw(name)
        await wait_drained(r, producer.emitted, 90)
        assert not fleet.dead()  # no service exited over the outage
    assert after == before
    assert any(g[1] for s in before.values() if isinstance(s, dict) for g in s["groups"].values())
    assert check(oplog.read_text().splitlines(), await final_state(r)) == []
