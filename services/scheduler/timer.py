"""The firing step: plan the due tasks and emit them and move their schedules, in batches.

Only what is due is touched (a zset range), so a tick costs O(due + log n), not O(n).
Facts (cooldown, upstream status) are read only for tasks that need them.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from services.scheduler.emitter import BATCH, END, Emission, Move, Packed, move_fields
from services.scheduler.kit import Fired
from services.scheduler.kit import run_lease_ms as run_lease_ms  # the intake imports it here
from services.scheduler.lookahead import Ahead
from services.scheduler.occurrence import make_due
from services.scheduler.runtime import Runtime
from shared.config.planning import Facts, Plan, plan
from shared.contract.decisions import Decision
from shared.contract.emission import EmitCode
from shared.contract.readmodel import FiredField
from shared.contract.readmodel import SchedTallyField as S
from shared.contract.scripts import run
from shared.runtime.redis import text

DUE_LIMIT: Final = 20_000
"""Most tasks (and retries) taken per tick; more wait for the next, immediate, tick."""
BREATHE: Final = 100
"""Tasks planned between two yields to the loop while staging a large tick."""
DEFER_S: Final = 5.0
"""How long a deferred run (overlap queue, window full, retry blocked) waits at most
before it is looked at again; a result of the blocking run wakes it sooner."""
FAILED: Final = frozenset({"failed", "timed_out", "dead_lettered", "rolled_back", "cancelled"})
UPSTREAM_FIELDS: Final = [S.SCHED_SUCCESS_AT, S.SCHED_STATUS, S.SCHED_FINISHED_AT]
"""What a dependent reads of its upstream's state (the scheduler's own tally)."""


@dataclass
class Batch:
    """What one script call writes: moves and decisions first, then emissions."""

    emissions: list[Emission | Fired] = field(default_factory=list)
    moves: list[Move] = field(default_factory=list)
    decisions: list[tuple[str, Decision]] = field(default_factory=list)
    retries: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.emissions) + len(self.moves) + len(self.decisions)


@dataclass
class Staged:
    """A tick planned and packed ahead of its instant ``at``; nothing written yet."""

    at: float
    calls: list[Packed]
    retry: Batch
    tasks: int


async def tick(rt: Runtime, token: str, now: float) -> int:
    """Handle every schedule slot and retry due at ``now``; return how many were emitted."""
    return await fire(rt, token, await stage(rt, now))


async def stage(rt: Runtime, at: float, ahead: Ahead | None = None) -> Staged:
    """Read what is due at ``at`` (unless ``ahead`` lists it) and plan it as of ``at``,
    highest priority first, into packed calls; writes nothing, so the service can do
    this ahead of ``at``.

    ``at`` may lie ahead: a plan only depends on the instant it is for and on the facts
    read here (the service plans again when a definition, a pause or an upstream result
    changes in between).
    """
    if ahead is not None and ahead.due is not None and ahead.covers(at):
        pending, members = ahead.due, ahead.retries or []
    else:
        due, retries = await run(
            rt.r, "schedule_due",
            [rt.keys.schedule_next, rt.keys.schedule_slots, rt.keys.schedule_retries],
            [repr(at), DUE_LIMIT],
        )  # fmt: skip
        pending = {text(due[i]): due[i + 1] for i in range(0, len(due), 2)}
        members = [text(m) for m in retries]
    facts = await read_facts(rt, [n for n in pending if n in rt.schedules])
    calls = await _plan(rt, sorted(pending, key=rt.fire_order), pending, at, facts)
    retry = Batch()
    _plan_retries(rt, retry, members, max(at, rt.clock.time()))
    calls += rt.emitter.pack(retry.emissions)
    if len(calls) > 1:
        # Sending a tick of several calls takes tens of ms. Staging it parsed many
        # definitions into a cache that drops one for each it adds: the young
        # generation's counter barely moves while tens of thousands of objects pile up
        # in it, and a collection would walk them all (10-20 ms) in the middle of the
        # sending. Collect now, ahead of the instant, instead.
        gc.collect(1)
    return Staged(at, calls, retry, len(pending) + len(retry.retries))


def plannable_early(rt: Runtime, ahead: Ahead) -> bool:
    """Whether the tick ``ahead`` lists can be planned as soon as it is known: not when a
    task in it plans from facts read from Redis (cooldown: its last fire, which a manual
    run moves without waking the timer; upstream results), which are read just before."""
    if ahead.due is None:
        return False
    return not any(rt.needs_facts(n) for n in ahead.due if n in rt.schedules)


async def fire(rt: Runtime, token: str, staged: Staged, *, ahead: bool = False) -> int:
    """Send a staged tick, one call after the other; return how many were emitted.

    With ``ahead``, the last call also reads what is due next (``rt.emitter.ahead``),
    unless the tick re-queues retries afterwards (the read would not see that)."""
    calls, retry = staged.calls, staged.retry
    if ahead and calls and not (retry.retries or retry.dropped):
        last = calls[-1]
        calls = [*calls[:-1], Packed(last.blob, last.items, ahead=True)]
    codes: list[EmitCode] = []
    for call in calls:
        codes += await rt.emitter.send(token, rt.now_ms(), call)
    await _settle_retries(rt, retry, codes[len(codes) - len(retry.retries) :])
    return sum(1 for c in codes if c == EmitCode.EMITTED)


async def _plan(
    rt: Runtime, names: Sequence[str], pending: dict[str, Any], at: float,
    facts: dict[str, Facts],
) -> list[Packed]:  # fmt: skip
    """Plan ``names`` in order into calls of about :data:`BATCH` writes, yielding to the
    loop every :data:`BREATHE` tasks so that a large tick does not stall the service."""
    calls: list[Packed] = []
    batch = Batch()
    for i, name in enumerate(names, 1):
        _plan_task(rt, batch, name, pending[name], at, facts.get(name, Facts()))
        if len(batch) >= BATCH or i == len(names):
            calls += rt.emitter.pack(batch.emissions, batch.moves, batch.decisions)
            batch = Batch()
        if i % BREATHE == 0:
            await asyncio.sleep(0)
    return calls


def _plan_task(rt: Runtime, batch: Batch, name: str, raw: Any, now: float, facts: Facts) -> None:
    schedule = rt.schedules.get(name)
    if schedule is None:
        batch.moves.append(Move(name, END))
        return
    if raw is None or raw is False:
        batch.moves.append(rt.first_move(name))
        return
    result = plan(schedule, int(text(raw)), now, facts)
    batch.decisions += [(name, d) for d in result.decisions]
    if not result.fires:
        batch.moves.append(_move(name, result))
        return
    emitted_at = max(now, rt.clock.time())  # a staged tick is sent at ``now`` at the earliest
    kit, last = rt.kit(name), len(result.fires) - 1
    for i, one in enumerate(result.fires):
        then = move_fields(_move(name, result)) if i == last else None
        batch.emissions.append(kit.fire(
            one.slot_ms, one.at, emitted_at, deadline=one.deadline, move=then,
            defer_at=emitted_at + DEFER_S if then is not None else None,
        ))  # fmt: skip


def _move(name: str, result: Plan) -> Move:
    if result.next_slot_ms is None or result.next_at is None:
        return Move(name, END)
    return Move(name, repr(result.next_at), str(result.next_slot_ms))


def retry_member(task: str, run_id: str, attempt: int, trigger: str, scheduled_for: float) -> str:
    """The retry zset member for the next ``attempt`` of ``run_id``."""
    return f"{task}|{run_id}|{attempt}|{trigger}|{scheduled_for!r}"


def _plan_retries(rt: Runtime, batch: Batch, members: Sequence[str], now: float) -> None:
    for member in members:
        task_name, run_id, attempt, _trigger, scheduled_for = member.split("|")
        task = rt.tasks.get(task_name)
        if task is None:  # the task was deleted since the failure
            batch.dropped.append(member)
            continue
        batch.retries.append(member)
        slot = run_id[len(task_name) + 1 :]
        due = make_due(
            task_name, task, slot=slot, trigger="retry", scheduled_for=float(scheduled_for),
            emitted_at=now, attempt=int(attempt),
            reason=f"retry: attempt {attempt} of {task.retries.max + 1}",
        )  # fmt: skip
        batch.emissions.append(
            Emission(due=due, slot=f"{slot}#a{attempt}", overlap=task.overlap,
                     lease_ms=run_lease_ms(task.timeout), report_busy=True)
        )  # fmt: skip


async def _settle_retries(rt: Runtime, batch: Batch, codes: Sequence[EmitCode]) -> None:
    """Emitted (or already emitted) retries leave the zset; blocked ones wait a while."""
    if not batch.retries and not batch.dropped:
        return
    async with rt.r.pipeline(transaction=False) as pipe:
        for member in batch.dropped:
            pipe.zrem(rt.keys.schedule_retries, member)
        for member, code in zip(batch.retries, codes, strict=True):
            if not code.busy:
                pipe.zrem(rt.keys.schedule_retries, member)
            else:
                pipe.zadd(rt.keys.schedule_retries, {member: rt.clock.time() + DEFER_S})
        await pipe.execute()


async def read_facts(rt: Runtime, names: Sequence[str]) -> dict[str, Facts]:
    """Paused, last fire and upstream status for the tasks whose plan needs them."""
    needy = [n for n in names if rt.needs_facts(n)]
    facts = {n: Facts(paused=True) for n in names if n in rt.paused}
    if not needy:
        return facts
    async with rt.r.pipeline(transaction=False) as pipe:
        for name in needy:
            pipe.hget(rt.keys.schedule_state(name), FiredField.FIRED_AT)
            for upstream in rt.tasks[name].depends_on:
                pipe.hmget(rt.keys.schedule_state(upstream), UPSTREAM_FIELDS)
        replies = iter(await pipe.execute())
    for name in needy:
        facts[name] = _facts(rt, name, replies)
    return facts


def _facts(rt: Runtime, name: str, replies: Any) -> Facts:
    raw = next(replies)
    last_fired = float(raw) if raw is not None else None
    since = last_fired or 0.0
    failed = pending = None
    for upstream in rt.tasks[name].depends_on:
        success, status, at = next(replies)
        if success is not None and float(success) > since:
            continue
        if status is not None and text(status) in FAILED and float(at) > since:
            failed = failed or upstream
        else:
            pending = pending or upstream
    return Facts(paused=name in rt.paused, last_fired_at=last_fired,
                 upstream_failed=failed, upstream_pending=pending)  # fmt: skip
