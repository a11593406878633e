"""Redis unreachable for 10 s under ``watchkeeper up`` (one process, all services, the API).

10 s rather than 30: the retry backoff reaches its 1 s cap after five tries (under a
second), so every later second of an outage repeats the same state; 10 s is also ten
missed slots of each one-second schedule, enough to tell the three catch-up policies
apart. During the outage: the process stays up, retries are capped (≤ 1 s) and
jittered, ``/readyz`` and the API (reads and mutations: run now, disable) answer 503
with ``Retry-After``. After it: the backlog
drains, nothing stays pending, and each task's missed slots follow its ``catch_up``:
``all`` runs every one, ``coalesce`` one run for the latest, ``skip`` none.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shared.contract.decisions import Outcome, recent
from shared.runtime.embedded import EmbeddedRedis, free_port
from shared.runtime.redis import RETRY_CAP_S, Redis
from tests.chaos.fleet import Fleet, fleet_config
from tests.chaos.flow import KEYS, final_state, wait_drained
from tests.executor.executor_support import wait_for

pytestmark = pytest.mark.chaos

OUTAGE_S = 10.0
POLICIES = ("all", "coalesce", "skip")


async def _get(url: str, post: dict[str, Any] | None = None) -> tuple[int, Any, str | None]:
    """(status, JSON body, Retry-After) of a GET, or of a POST of ``post``."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            call = http.get(url) if post is None else http.post(url, json=post)
            async with call as resp:
                return resp.status, await resp.json(), resp.headers.get("Retry-After")
    except aiohttp.ClientError:
        return 0, {}, None


async def _slots(r: Redis, task: str) -> list[float]:
    """``scheduled_for`` of every result of ``task``, in order."""
    found = await final_state(r)
    return sorted(float(x.run_id.rpartition(":")[2]) / 1000 for x in found.results
                  if x.run_id.startswith(f"{task}:"))  # fmt: skip


async def test_a_10s_outage_degrades_then_drains_by_each_catch_up_policy(
    durable: EmbeddedRedis, r: Redis, tmp_path: Path, fleets: list[Fleet]
) -> None:
    config = fleet_config(tmp_path, tmp_path / "oplog")
    tick = config["tasks"].pop("tick")
    for policy in POLICIES:
        config["tasks"][policy] = {**tick, "catch_up": policy, "misfire_grace": "60s"}
    api = f"http://127.0.0.1:{free_port()}"
    fleet = Fleet(tmp_path, durable.url, config)
    fleet.env["WATCHKEEPER_API__PORT"] = api.rpartition(":")[2]
    fleets.append(fleet)
    fleet.start("up-0")
    await wait_for(lambda: _ready(api), 30, "up ready")
    await wait_for(lambda: _each_ran(r), 15, "every task ran before the outage")

    await asyncio.to_thread(durable.kill)
    loop = asyncio.get_running_loop()
    down_at, during = loop.time(), []
    while loop.time() - down_at < OUTAGE_S:  # the outage itself, probed all along
        during.append(await _get(f"{api}/readyz"))
        during.append(await _get(f"{api}/api/v1/runs/nothing"))
        during.append(await _get(f"{api}/api/v1/runs", post={"task": "effect"}))  # mutations
        during.append(await _get(f"{api}/api/v1/tasks/effect/disable", post={}))
        await asyncio.sleep(0.5)
    assert not fleet.dead(), "up exited during the outage"
    await asyncio.to_thread(durable.start)
    back_at = time.time()

    await wait_for(lambda: _ready(api), 15, "ready again")
    await wait_for(lambda: _ran_after(r, back_at), 15, "schedules going again")
    await wait_drained(r, [], 30)
    assert {(status, retry) for status, _, retry in during} == {(503, "2")}
    assert all(body["error"]["code"] == "redis_unavailable" for _, body, _ in during)
    await _assert_catch_up(r, OUTAGE_S)
    waits = [e["retry_in_s"] for e in fleet.events("up", "service.redis_unavailable")]
    assert waits and max(waits) <= RETRY_CAP_S


async def _ready(api: str) -> bool:
    return (await _get(f"{api}/readyz"))[0] == 200


async def _each_ran(r: Redis) -> bool:
    return all([len(await _slots(r, task)) >= 2 for task in POLICIES])


async def _ran_after(r: Redis, instant: float) -> bool:
    """Each task has run a slot at or after ``instant`` (epoch s)."""
    return all([(await _slots(r, task) or [0.0])[-1] >= instant for task in POLICIES])


async def _assert_catch_up(r: Redis, outage_s: float) -> None:
    every = await _slots(r, "all")
    assert {round(b - a, 3) for a, b in itertools.pairwise(every)} == {1.0}
    for task in ("coalesce", "skip"):
        slots = await _slots(r, task)
        gaps = [b - a for a, b in itertools.pairwise(slots)]
        assert max(gaps) >= outage_s - 2, (task, slots)  # the missed slots did not each run
    outcomes = {task: [d.outcome for d in await recent(r, KEYS, task, 200)] for task in POLICIES}
    assert outcomes["coalesce"].count(Outcome.COALESCED) >= outage_s - 2
    assert outcomes["skip"].count(Outcome.SKIPPED) >= outage_s - 2
    assert Outcome.COALESCED not in outcomes["all"] and Outcome.SKIPPED not in outcomes["all"]
