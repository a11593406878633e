"""Work flowing through a fleet for the chaos tests, recorded in the operation log.

- :class:`Producer` XADDs ``trigger.run`` entries for ``effect`` (and, when asked,
  garbage "poison" entries), logging ``emit RUN`` / ``emit?`` / ``poison STREAM`` /
  ``poison?``;
- :class:`Watcher` follows the results stream and logs ``ack RUN`` for each result;
- :func:`final_state` reads what the checker needs once the fleet has drained.

Both talk to Redis directly (not through the fault proxy): they stand for the trading
stack and for an observer, whose own network is not under test.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

from shared.contract.codec import decode, encode
from shared.contract.events import TaskResult, TriggerRun
from shared.contract.keys import EXECUTORS_GROUP, Keys
from shared.runtime.redis import Redis, RedisUnavailable, ensure_group, text, xadd_once
from tests.chaos.chaos_handlers import append
from tests.chaos.fleet import NS, Fleet
from tests.chaos.oplog import Final, Outcome

KEYS = Keys(NS)
SETTLE_S = 5.0
"""How long a run of the every-second ``tick`` task may stay pending after a drain."""
GARBAGE = {"type": "trigger.run", "v": "1", "body": b"\xc1 not msgpack"}


@dataclass
class Producer:
    """Emits triggers (and poison) and logs each acknowledged XADD.

    Each XADD is sent once (:func:`~shared.runtime.redis.xadd_once`): the client's retry
    after a lost reply (Redis killed after the write, before the reply) would write a
    second entry, whose first's run the log never saw. A failed XADD is logged ``emit?``."""

    r: Redis
    oplog: Path
    emitted: list[str] = field(default_factory=list)

    async def trigger(self) -> None:
        """One ``trigger.run`` of ``effect``; an XADD that failed is logged ``emit?``."""
        try:
            entry_id = await xadd_once(self.r, KEYS.triggers, encode(TriggerRun(task="effect")))
        except RedisUnavailable:
            append(str(self.oplog), "emit?")
            return
        run_id = f"effect:m{text(entry_id)}"
        self.emitted.append(run_id)
        append(str(self.oplog), f"emit {run_id}")

    async def poison(self, on_due: bool) -> None:
        """One undecodable entry on the triggers stream or the normal due stream."""
        stream = KEYS.due("normal") if on_due else KEYS.triggers
        fields = {**GARBAGE, "type": "task.due"} if on_due else GARBAGE
        try:
            await xadd_once(self.r, stream, fields)
        except RedisUnavailable:
            append(str(self.oplog), "poison?")  # maybe written: maybe one more dead letter
            return
        append(str(self.oplog), f"poison {stream}")


@dataclass
class Watcher:
    """Follows the results stream, logging ``ack RUN`` for each result seen."""

    r: Redis
    oplog: Path
    since: str = "0"
    seen: set[str] = field(default_factory=set)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                reply: Any = await self.r.xread({KEYS.results: self.since}, count=500, block=200)
            except RedisUnavailable:
                await asyncio.sleep(0.2)  # Redis is being restarted by the test
                continue
            for _, items in reply or []:
                for entry_id, fields in items:
                    self.since = text(entry_id)
                    run_id = msgpack.unpackb(fields[b"body"])["run_id"]
                    self.seen.add(run_id)
                    append(str(self.oplog), f"ack {run_id}")


@contextlib.asynccontextmanager
async def flowing(
    r: Redis, fleet: Fleet, oplog: Path, services: Sequence[str]
) -> AsyncIterator[tuple[Producer, Watcher]]:
    """Start ``services``, a producer and a watcher; the watcher stops on exit."""
    await prepare(r)
    producer, watcher, stop = Producer(r, oplog), Watcher(r, oplog), asyncio.Event()
    watching = asyncio.create_task(watcher.run(stop))
    try:
        for name in services:
            fleet.start(name)
        yield producer, watcher
    finally:
        stop.set()
        await watching


async def holds(value: bool) -> bool:
    """``value``, awaitably (a condition for ``wait_for`` that needs no Redis)."""
    return value


async def prepare(r: Redis) -> None:
    """The executors' group, so poison on a due stream is read from its first entry."""
    for stream in KEYS.due_streams:
        await ensure_group(r, stream, EXECUTORS_GROUP)


async def pending(r: Redis) -> int:
    """Entries pending in any group of any stream the runs flow through.

    The alerts stream is left out: the reporter may raise an alert (an executor fleet
    briefly empty during a restart, say) just after the flow drained, and its consumers
    handle it moments later; that is not a run left behind."""
    total = 0
    async for name in r.scan_iter(f"{NS}:stream:*", _type="stream"):
        if text(name) == KEYS.alerts_stream:
            continue
        groups: Any = await r.xinfo_groups(name)
        total += sum(int(g["pending"]) for g in groups)
    return total


async def drained(r: Redis, emitted: list[str]) -> bool:
    """Every emitted run answered and nothing pending anywhere."""
    answered = {
        msgpack.unpackb(fields[b"body"])["run_id"] for _, fields in await r.xrange(KEYS.results)
    }
    return answered.issuperset(emitted) and await pending(r) == 0


async def wait_drained(r: Redis, emitted: list[str], timeout_s: float) -> None:
    """Wait (bounded) for :func:`drained`; a timeout says what is missing and pending."""
    try:
        async with asyncio.timeout(timeout_s):
            while not await drained(r, emitted):  # noqa: ASYNC110 (Redis state, no event)
                await asyncio.sleep(0.1)
    except TimeoutError:
        state = await describe(r, emitted)
        raise AssertionError(f"not drained after {timeout_s} s: {state}") from None


async def describe(r: Redis, emitted: list[str]) -> dict[str, Any]:
    """Runs not answered, and each group's pending count, for a failure message."""
    answered = {
        msgpack.unpackb(fields[b"body"])["run_id"] for _, fields in await r.xrange(KEYS.results)
    }
    groups: dict[str, Any] = {}
    async for name in r.scan_iter(f"{NS}:stream:*", _type="stream"):
        for g in await r.xinfo_groups(name):
            groups[f"{text(name)}/{text(g['name'])}"] = (g["pending"], g.get("lag"))
    missing = sorted(set(emitted) - answered)
    return {"unanswered": len(missing), "first": missing[:3], "groups (pending, lag)": groups}


async def final_state(r: Redis) -> Final:
    """Results, pending entries and dead letters, for :func:`tests.chaos.oplog.check`."""
    results = []
    for _, fields in await r.xrange(KEYS.results):
        event = decode(fields)
        assert isinstance(event, TaskResult)
        results.append(Outcome(event.run_id, event.attempt, event.status))
    return Final(results=results, pending=await settled_pending(r), dead=await r.xlen(KEYS.dead))


async def settled_pending(r: Redis, within_s: float = SETTLE_S) -> int:
    """Pending entries once what is in flight has settled: the ``tick`` task fires every
    second, so a run may be pending for a moment after :func:`drained` said none was;
    an entry still pending after ``within_s`` is left behind."""
    left = await pending(r)
    with contextlib.suppress(TimeoutError):  # still pending: the count says so
        async with asyncio.timeout(within_s):
            while left:
                await asyncio.sleep(0.1)
                left = await pending(r)
    return left
