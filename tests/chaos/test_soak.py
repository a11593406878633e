"""The soak: a seeded random mix of faults while runs flow, checked offline.

Two schedulers, two executors and a reporter (real processes) reach Redis (AOF,
``appendfsync always``) through the fault proxy. For ``WK_SOAK_S`` seconds (45 by
default) the test triggers runs, injects poison, and every one to three seconds draws a
fault: kill -9 of a service (restarted at once, as a supervisor would), SIGSTOP then
SIGCONT (sometimes past the visibility timeout), kill -9 of Redis and a restart on the
same data, a cut of every connection, latency, a half-open spell, a reply cut after
Redis ran the command. Then the faults stop, everything drains, and
:func:`tests.chaos.oplog.check` reads the operation log against the final state.

The seed is printed (``WK_SOAK_SEED=…``) and shown by a failure: set it to replay the
same sequence of faults.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.runtime.embedded import EmbeddedRedis
from shared.runtime.redis import Redis
from tests.chaos.chaos_handlers import append
from tests.chaos.fleet import Fleet, fleet_config
from tests.chaos.flow import Producer, final_state, flowing, wait_drained
from tests.chaos.oplog import check
from tests.executor.executor_support import wait_for
from tests.support.proxy import FaultProxy

pytestmark = pytest.mark.chaos

SOAK_S = float(os.environ.get("WK_SOAK_S", "45"))
SERVICES = ("scheduler-0", "scheduler-1", "executor-0", "executor-1", "reporter-0")
VICTIMS = ("scheduler-0", "scheduler-1", "executor-0", "executor-1", "reporter-0")


@dataclass
class Chaos:
    """The soak's moving parts and the fault it draws next."""

    rng: random.Random
    fleet: Fleet
    server: EmbeddedRedis
    proxy: FaultProxy
    oplog: Path

    def note(self, line: str) -> None:
        append(str(self.oplog), line)

    async def kill9(self) -> None:
        name = self.rng.choice(VICTIMS)
        pid = self.fleet.pid(name)
        self.note(f"fault kill9 {name} {pid}")  # before the signal: the log stays in order
        await self.fleet.kill(name)
        self.fleet.start(name)

    async def freeze(self) -> None:
        name = self.rng.choice(VICTIMS)
        self.note(f"fault stop {name} {self.fleet.pid(name)}")
        self.fleet.freeze(name)
        await asyncio.sleep(self.rng.uniform(0.5, 6.0))  # the freeze itself (past 4 s: reclaimed)
        self.fleet.thaw(name)

    async def redis_kill9(self) -> None:
        self.note("fault redis-kill9 redis 0")
        await asyncio.to_thread(self.server.kill)
        await asyncio.sleep(self.rng.uniform(0.1, 1.0))  # the outage itself
        await asyncio.to_thread(self.server.start)

    async def cut_all(self) -> None:
        self.proxy.cut_all()

    async def latency(self) -> None:
        self.proxy.latency_s = self.rng.uniform(0.05, 0.3)
        await asyncio.sleep(self.rng.uniform(1.0, 3.0))  # the slow spell itself
        self.proxy.heal()

    async def half_open(self) -> None:
        self.proxy.half_open = True
        await asyncio.sleep(self.rng.uniform(0.5, 1.5))  # the black hole itself
        self.proxy.heal()

    async def cut_reply(self) -> None:
        self.proxy.cut_reply_to(self.rng.choice([b"EVALSHA", b"XREADGROUP", b"XACK"]))

    def draw(self) -> Callable[[], Awaitable[None]]:
        faults = [self.kill9, self.freeze, self.redis_kill9, self.cut_all, self.latency,
                  self.half_open, self.cut_reply]  # fmt: skip
        return self.rng.choice(faults)


@pytest.mark.timeout(SOAK_S + 180)
async def test_soak_with_seeded_faults_keeps_every_guarantee(
    durable: EmbeddedRedis, proxy: FaultProxy, r: Redis, tmp_path: Path, fleets: list[Fleet]
) -> None:
    seed = int(os.environ.get("WK_SOAK_SEED") or random.randrange(2**32))
    print(f"\nsoak: WK_SOAK_SEED={seed} WK_SOAK_S={SOAK_S:g}")  # noqa: T201 (replay line)
    rng = random.Random(seed)
    oplog = tmp_path / "oplog"
    fleet = Fleet(tmp_path, proxy.url, fleet_config(tmp_path, oplog))
    fleets.append(fleet)
    chaos = Chaos(rng, fleet, durable, proxy, oplog)
    async with flowing(r, fleet, oplog, SERVICES) as (producer, _):
        await wait_for(lambda: _logged_all(fleet), 30, "every service started")
        loop = asyncio.get_running_loop()
        end = loop.time() + SOAK_S
        producing = asyncio.create_task(_produce(producer, rng, end))
        while loop.time() < end:
            await chaos.draw()()
            await asyncio.sleep(rng.uniform(1.0, 3.0))  # the calm between two faults
        await producing
        proxy.heal()
        for name in fleet.dead():  # a service that exited on its own is a failure
            raise AssertionError(f"{name} exited by itself (seed {seed})")
        await wait_drained(r, producer.emitted, 90)
    for event in fleet.events("executor", "run.late_ack_ignored", "run.publish_given_up"):
        chaos.note(f"refused {event['run_id']}")
    problems = check(oplog.read_text().splitlines(), await final_state(r))
    assert problems == [], f"WK_SOAK_SEED={seed}: {problems[:10]}"


async def _produce(producer: Producer, rng: random.Random, end: float) -> None:
    """Triggers at about 20 a second and, now and then, a poison entry."""
    loop = asyncio.get_running_loop()
    while loop.time() < end:
        if rng.random() < 0.02:
            await producer.poison(on_due=rng.random() < 0.5)
        else:
            await producer.trigger()
        await asyncio.sleep(0.05)


async def _logged_all(fleet: Fleet) -> bool:
    started = {"scheduler": "scheduler.started", "executor": "executor.started"}
    return all(
        fleet.logged(name, started[kind]) for name in SERVICES
        if (kind := name.partition("-")[0]) in started
    )  # fmt: skip
