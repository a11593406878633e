"""What the leader does with stream entries: triggers, control events, results, alerts.

Triggers become manual or emergency runs (refusals are dead-lettered with the reason;
a refused emergency also raises an alert); control events reload definitions and
pause/resume tasks; results end run leases, schedule retries with backoff, release
dependents and feed policies; alerts feed policies.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from services.scheduler.emitter import Emission
from services.scheduler.occurrence import Refusal, due_from_trigger, make_due, refusal, wire_body
from services.scheduler.policies import describe, matches, policy_name
from services.scheduler.runtime import Runtime
from services.scheduler.timer import read_facts, retry_member, run_lease_ms
from shared.config.models import TaskConfig
from shared.config.planning import Facts
from shared.contract.codec import encode
from shared.contract.decisions import Cause, Decision, Outcome
from shared.contract.events import (
    AlertRaised,
    Event,
    TaskChanged,
    TaskDue,
    TaskPaused,
    TaskResult,
    TaskResumed,
    TriggerEmergency,
    TriggerRun,
)
from shared.contract.keys import SCHEDULER_GROUP
from shared.contract.readmodel import ControlField
from shared.contract.readmodel import SchedTallyField as S
from shared.runtime.consume import Received
from shared.runtime.logging import get_logger
from shared.runtime.redis import Entry, dead_letter

log = get_logger("watchkeeper.scheduler")

RETRYABLE: Final = frozenset({"failed", "timed_out"})
RESULT_DECISIONS: Final = {
    "skipped": (Outcome.SKIPPED, Cause.DEADLINE),
    "dead_lettered": (Outcome.DEAD_LETTERED, Cause.EXECUTOR),
}
"""Results that are decisions too: the executor skipped the run, or gave up on it."""


def retry_delay_s(backoff_s: float, max_delay_s: float, attempt: int) -> float:
    """Exponential backoff before attempt ``attempt + 1``: backoff · 2^(attempt-1), capped."""
    return float(min(backoff_s * 2 ** max(0, attempt - 1), max_delay_s))


@dataclass
class Intake:
    """Handles one entry at a time for the leader holding ``token``."""

    rt: Runtime
    reader: str

    async def dispatch(self, token: str, items: list[Received]) -> list[Received]:
        """Handle one run of entries from :func:`runs`: definition changes, triggers and
        results each a run at a time (one fenced script for a run of triggers, one
        pipeline for a run of results), anything else alone. Returns the entries acked
        already: the triggers whose runs the emission script emitted (it acks them in
        the same call); the other acks are the consumer loop's (refusals are
        dead-lettered)."""
        kind = kind_of(items[0].event)
        if kind is TriggerRun:
            return await self.triggers(token, items)
        if kind is TaskChanged:
            await self.changes(token, items)
        elif kind is TaskResult:
            await self.results(token, items)
        else:
            await self.handle(token, items[0].entry, items[0].event)
        return []

    async def handle(self, token: str, entry: Entry, event: Event) -> None:
        """Act on ``event`` (decoded from ``entry``, already checked to belong on its stream)."""
        one = [Received(entry, event)]
        if isinstance(event, TriggerRun | TriggerEmergency):
            await self.triggers(token, one)
        elif isinstance(event, TaskChanged):
            await self.changes(token, one)
        elif isinstance(event, TaskPaused | TaskResumed):
            await self._pause(event)
        elif isinstance(event, TaskResult):
            await self.results(token, one)
        elif isinstance(event, AlertRaised):
            await self._policies(token, entry, event)

    async def changes(self, token: str, items: list[Received]) -> None:
        """Definition changes, batched: one read of the definitions and one fenced write for
        all of ``items`` (``control.task_changed`` entries; idempotent)."""
        tasks = [i.event.task for i in items if isinstance(i.event, TaskChanged)]
        names = list(dict.fromkeys(tasks))
        stored: list[Any] = await self.rt.r.hmget(self.rt.keys.taskdefs, names)
        await self.rt.changed(token, dict(zip(names, stored, strict=True)))

    # -- triggers ---------------------------------------------------------------
    async def triggers(self, token: str, items: list[Received]) -> list[Received]:
        """Trigger entries, batched: consecutive accepted ones are emitted in one fenced
        script call (idempotent: a trigger's run id comes from its entry id), in order,
        so a later trigger of a task sees the earlier one's run lease. A refusal ends a
        segment, so decisions stay in the order the triggers came. Returns the entries
        the script acked (each emitted run's trigger, in the call that emitted it)."""
        accepted: list[tuple[Received, TaskDue, Emission]] = []
        acked: list[Received] = []
        for item in items:
            event = item.event
            assert isinstance(event, TriggerRun | TriggerEmergency)
            due, body, why = self._admit(event, item.entry)
            if due is not None and why is None:
                slot = due.run_id[len(event.task) + 1 :]
                task = self.rt.tasks[event.task]
                emission = self._emission(task, due, slot, event, body, ack=item.key)
                accepted.append((item, due, emission))
                continue
            acked += await self._emit(token, accepted)
            accepted = []
            await self._refuse(token, [(item, due, why or (None, ""))])
        return acked + await self._emit(token, accepted)

    def _admit(
        self, event: TriggerRun | TriggerEmergency, entry: Entry
    ) -> tuple[TaskDue | None, bytes, Refusal | None]:
        """The run a trigger asks for, its wire body and why it is refused (None: it may
        be emitted)."""
        task = self.rt.tasks.get(event.task)
        if task is None:  # not a task: nothing to record a decision for
            return None, b"", (None, f"unknown task {event.task!r}")
        due = due_from_trigger(event, task, entry_id=entry.entry_id, now=self.rt.clock.time(),
                               via_triggers=entry.stream == self.rt.keys.triggers)  # fmt: skip
        why = refusal(event, task) or self._gate(event, task)
        if why is not None:
            return due, b"", why
        body, why = wire_body(due)
        return due, body, why

    async def _emit(
        self, token: str, accepted: list[tuple[Received, TaskDue, Emission]]
    ) -> list[Received]:
        """Emit accepted triggers together; those refused for capacity are refused after.
        Returns the triggers the script acked (emitted now or before)."""
        if not accepted:
            return []
        emissions = [emission for *_, emission in accepted]
        codes = await self.rt.emitter.emit(token, emissions, self.rt.now_ms())
        pairs = list(zip(accepted, codes, strict=True))
        busy = [(item, due, (c.cause, c.reason)) for (item, due, _), c in pairs if c.busy]
        if busy:
            await self._refuse(token, busy)
        return [item for (item, _, _), c in pairs if not c.busy]

    def _gate(self, event: TriggerRun | TriggerEmergency, task: TaskConfig) -> Refusal | None:
        """Manual runs respect disabled and windows; emergencies and forced runs bypass them."""
        if isinstance(event, TriggerEmergency) or event.force:
            return None
        if not task.enabled:
            return Cause.DISABLED, "task is disabled"
        window = self.rt.catalog.windows.get(task.window) if task.window else None
        closed = window.closed_reason(self.rt.clock.now()) if window is not None else None
        return (Cause.WINDOW, closed) if closed is not None else None

    def _emission(
        self, task: TaskConfig, due: TaskDue, slot: str, event: object, body: bytes = b"",
        ack: tuple[str, str] | None = None,
    ) -> Emission:  # fmt: skip
        """Emergencies and forced runs bypass windows (no window accounting); others count
        against them. ``body``: the due already encoded; ``ack``: the trigger entry the
        script acks with the emission."""
        window = self.rt.catalog.windows.get(task.window) if task.window else None
        bypass = isinstance(event, TriggerEmergency) or (
            isinstance(event, TriggerRun) and event.force
        )
        cap = 0 if bypass or window is None else window.max_concurrent
        return Emission(due=due, slot=slot, window=task.window if cap else None,
                        window_max=cap or 0, lease_ms=run_lease_ms(task.timeout),
                        report_busy=True, body=body, ack=ack)  # fmt: skip

    async def _refuse(
        self, token: str, refused: Sequence[tuple[Received, TaskDue | None, Refusal]]
    ) -> None:
        """Dead-letter refused triggers, record why for known tasks (one fenced call),
        and raise an alert for each refused emergency."""
        for item, _, (_, reason) in refused:
            await dead_letter(self.rt.r, self.rt.keys, item.entry, SCHEDULER_GROUP, reason,
                              reader=self.reader)  # fmt: skip
        known = [(due, cause, reason) for _, due, (cause, reason) in refused if due is not None]
        await self._decide(token, known)
        for item, _, (_, reason) in refused:
            if isinstance(item.event, TriggerEmergency):
                await self._alert(item.event.task, reason)

    async def _decide(self, token: str, refusals: list[tuple[TaskDue, Cause | None, str]]) -> None:
        """Record refused requests (one decision each, in the task's decisions list)."""
        if not refusals:
            return
        decisions = [
            (due.task, Decision(slot=due.run_id[len(due.task) + 1 :], outcome=Outcome.REFUSED,
                                cause=cause, reason=f"{reason} ({due.trigger} run)"))
            for due, cause, reason in refusals
        ]  # fmt: skip
        await self.rt.emitter.advance(token, [], decisions, self.rt.now_ms())

    async def _alert(self, task: str, reason: str) -> None:
        now = self.rt.clock.time()
        alert = AlertRaised(
            alert_id=uuid.uuid4().hex, key=f"scheduler.emergency_refused.{task}",
            severity="warning", title=f"Emergency run of {task} refused", message=reason,
            source="scheduler", labels={"task": task}, first_seen=now, last_seen=now,
        )  # fmt: skip
        await self.rt.r.xadd(self.rt.keys.alerts_stream, encode(alert))  # type: ignore[arg-type]

    # -- control ----------------------------------------------------------------
    async def _pause(self, event: TaskPaused | TaskResumed) -> None:
        paused = isinstance(event, TaskPaused)
        async with self.rt.r.pipeline(transaction=True) as pipe:
            if paused:
                pipe.sadd(self.rt.keys.schedule_paused, event.task)
            else:
                pipe.srem(self.rt.keys.schedule_paused, event.task)
            pipe.hset(self.rt.keys.schedule_state(event.task), ControlField.PAUSED, int(paused))
            await pipe.execute()
        (self.rt.paused.add if paused else self.rt.paused.discard)(event.task)
        self.rt.version += 1
        log.info("scheduler.paused" if paused else "scheduler.resumed", task=event.task)

    # -- results ----------------------------------------------------------------
    async def results(self, token: str, items: list[Received]) -> None:
        """Result entries, batched: run leases ended and the tally written in one
        transaction, retries queued and waiting tasks woken in one pipeline, the
        decisions they carry in one fenced call; dependents and policies then per result
        (they do I/O only when a dependent waits or a policy matches)."""
        done = [(i.entry, i.event) for i in items if isinstance(i.event, TaskResult)]
        retrying = [self._retrying(result) for _, result in done]
        await self._record(done, retrying)
        decisions: list[tuple[str, Decision]] = []
        queued: dict[str, float] = {}
        for (_, result), task in zip(done, retrying, strict=True):
            noted = RESULT_DECISIONS.get(result.status)
            if noted is not None:  # the executor skipped the run, or gave up on it
                decisions.append((result.task, _about(result, *noted, result.message[:300])))
            if task is not None:
                member, at, decision = self._retry(task, result)
                queued[member] = at
                decisions.append((result.task, decision))
        await self._queue_and_wake(queued, [result.task for _, result in done])
        await self.rt.emitter.advance(token, [], decisions, self.rt.now_ms())
        for entry, result in done:
            if self.rt.dependents.get(result.task):
                self.rt.version += 1  # a staged plan of a dependent read the upstream's status
            if result.status == "succeeded":
                await self._release_dependents(token, entry, result.task)
            await self._policies(token, entry, result)

    def _retrying(self, result: TaskResult) -> TaskConfig | None:
        """The task when ``result`` is to be retried, else None."""
        task = self.rt.tasks.get(result.task)
        return task if task is not None and _retryable(task, result) else None

    async def _record(
        self, done: list[tuple[Entry, TaskResult]], retrying: list[TaskConfig | None]
    ) -> None:
        """End the runs' leases and write the scheduler's tally (one transaction, one
        command per lease set and per task's tally: a burst of one task's results costs a
        few commands, not four per result; the same state as writing them one by one)."""
        k = self.rt.keys
        leases: dict[str, list[str]] = {}
        tallies: dict[str, dict[str, str | float]] = {}
        counts: dict[str, list[int]] = {}
        for (_, result), retry in zip(done, retrying, strict=True):
            task, ok = self.rt.tasks.get(result.task), result.status == "succeeded"
            leases.setdefault(k.running(result.task), []).append(result.run_id)
            if task is not None and task.window:
                leases.setdefault(k.window_running(task.window), []).append(result.run_id)
            if retry is None or ok:  # terminal (or a success): the tally counts it
                tallies.setdefault(result.task, {}).update(_tally(result, ok))
                count = counts.setdefault(result.task, [0, 0])
                count[0], count[1] = count[0] + 1, count[1] + ok
        async with self.rt.r.pipeline(transaction=True) as pipe:
            for key, run_ids in leases.items():
                pipe.zrem(key, *run_ids)
            for name, state in tallies.items():
                pipe.hset(k.schedule_state(name), mapping=state)  # type: ignore[arg-type]
                pipe.hincrby(k.schedule_state(name), S.SCHED_RESULTS, counts[name][0])
                pipe.hincrby(k.schedule_state(name), S.SCHED_SUCCESSES, counts[name][1])
            await pipe.execute()

    def _retry(self, task: TaskConfig, result: TaskResult) -> tuple[str, float, Decision]:
        """The retry zset member of ``result``'s next attempt, when it is due, and why."""
        policy = task.retries
        delay = retry_delay_s(policy.backoff, policy.max_delay, result.attempt)
        member = retry_member(result.task, result.run_id, result.attempt + 1, result.trigger,
                              result.scheduled_for)  # fmt: skip
        why = (f"attempt {result.attempt + 1} of {policy.max + 1} in {delay:g} s "
               f"after {result.status}: {result.message}"[:300])  # fmt: skip
        log.info("scheduler.retry_scheduled", task=result.task, run_id=result.run_id, delay_s=delay)
        at = self.rt.clock.time() + delay
        return member, at, _about(result, Outcome.RETRY, Cause.FAILED, why)

    async def _queue_and_wake(self, queued: dict[str, float], finished: list[str]) -> None:
        """Queue retries and pull forward the next fire of every task a finished run may
        unblock (one pipeline; nothing is sent when there is nothing to do)."""
        targets = {name for task in dict.fromkeys(finished) for name in self.rt.wake_targets(task)}
        if not queued and not targets:
            return
        now = self.rt.clock.time()
        async with self.rt.r.pipeline(transaction=False) as pipe:
            if queued:
                pipe.zadd(self.rt.keys.schedule_retries, queued)
            for name in targets:
                pipe.zadd(self.rt.keys.schedule_next, {name: now}, xx=True, lt=True)
            await pipe.execute()

    async def _release_dependents(self, token: str, entry: Entry, upstream: str) -> None:
        """Dependents without a schedule run once every upstream succeeded since their
        last run (scheduled dependents were woken and decide in their own plan)."""
        waiting = [d for d in self.rt.dependents.get(upstream, ()) if d not in self.rt.schedules]
        waiting = [d for d in waiting if self.rt.tasks[d].enabled]
        facts = await read_facts(self.rt, waiting)
        ready = [d for d in waiting if _ready(facts.get(d))]
        await self._run(token, ready, f"d{entry.entry_id}", "dependency",
                        f"dependency: upstream {upstream!r} succeeded")  # fmt: skip

    # -- policies ---------------------------------------------------------------
    async def _policies(self, token: str, entry: Entry, event: AlertRaised | TaskResult) -> None:
        for i, policy in enumerate(self.rt.config.policies):
            if not matches(policy.when, event):
                continue
            name = policy_name(i, policy)
            fresh = await self.rt.r.set(self.rt.keys.policy_cooldown(name), entry.entry_id, nx=True,
                                        px=max(1, int(policy.cooldown * 1000)))  # fmt: skip
            if not fresh:
                log.info("scheduler.policy_cooldown", policy=name)
                continue
            targets = [t for t in policy.run if t in self.rt.tasks]
            await self._run(token, targets, f"p{i}-{entry.entry_id}", "policy",
                            f"policy {name}: {describe(policy.when)}")  # fmt: skip

    async def _run(
        self, token: str, names: list[str], slot: str, trigger: str, reason: str
    ) -> None:
        now = self.rt.clock.time()
        items = []
        for name in names:
            task = self.rt.tasks[name]
            due = make_due(name, task, slot=slot, trigger=trigger, scheduled_for=now,
                           emitted_at=now, reason=reason)  # fmt: skip
            items.append(self._emission(task, due, slot, None))
        if items:
            codes = await self.rt.emitter.emit(token, items, self.rt.now_ms())
            busy = [(i.due, c.cause, c.reason) for i, c in zip(items, codes, strict=True) if c.busy]
            if busy:
                await self._decide(token, busy)
            log.info("scheduler.runs", trigger=trigger, tasks=names, codes=codes, reason=reason)


def runs(received: list[Received]) -> list[list[Received]]:
    """Split a batch into the runs :meth:`Intake.dispatch` takes, in order: consecutive
    entries of one batchable kind together (definition changes: ``apply`` leaves
    thousands behind; triggers; results), everything else alone."""
    grouped: list[list[Received]] = []
    for item in received:
        kind = kind_of(item.event)
        if grouped and kind is not None and kind_of(grouped[-1][-1].event) is kind:
            grouped[-1].append(item)
        else:
            grouped.append([item])
    return grouped


def kind_of(event: Event) -> type[Event] | None:
    """The batchable kind of ``event`` (both trigger types are one kind), else None."""
    if isinstance(event, TriggerRun | TriggerEmergency):
        return TriggerRun
    if isinstance(event, TaskChanged | TaskResult):
        return type(event)
    return None


def _tally(result: TaskResult, ok: bool) -> dict[str, str | float]:
    """The scheduler's own state fields for a counted result."""
    state: dict[str, str | float] = {S.SCHED_STATUS: result.status,
                                     S.SCHED_FINISHED_AT: result.finished_at}  # fmt: skip
    if ok:
        state[S.SCHED_SUCCESS_AT] = result.finished_at
    return state


def _about(result: TaskResult, outcome: Outcome, cause: Cause, reason: str) -> Decision:
    """A decision about the run ``result`` reports on."""
    return Decision(slot=result.run_id[len(result.task) + 1 :], outcome=outcome, cause=cause,
                    reason=reason, run_id=result.run_id)  # fmt: skip


def _retryable(task: TaskConfig, result: TaskResult) -> bool:
    return result.status in RETRYABLE and result.attempt <= task.retries.max


def _ready(facts: Facts | None) -> bool:
    if facts is None or facts.paused:
        return False
    return not facts.upstream_pending and not facts.upstream_failed
