"""Every Redis key and stream name Watchkeeper uses, under one namespace.

A namespace written with braces (``{maintenance}``) is a Redis Cluster hash tag, so a
whole deployment lands in one slot and multi-key Lua scripts keep working there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from shared.contract.vocabulary import PRIORITIES

EXECUTORS_GROUP: Final = "executors"
REPORTER_GROUP: Final = "reporter"
SCHEDULER_GROUP: Final = "scheduler"
NOTIFIER_GROUP: Final = "notifier"
ARCHIVE_GROUP: Final = "archive"

_NAMESPACE_RE = re.compile(r"^(\{[A-Za-z0-9_.-]+\}|[A-Za-z0-9_.-]+)$")


def validate_namespace(ns: str) -> str:
    """Return ``ns`` if it is a usable namespace, else raise ``ValueError`` naming it."""
    if not _NAMESPACE_RE.match(ns):
        raise ValueError(
            f"namespace {ns!r} must be letters, digits, '_', '.', '-', optionally in braces"
        )
    return ns


@dataclass(frozen=True, slots=True)
class Keys:
    """Key and stream names for one namespace (default ``maintenance``)."""

    ns: str = "maintenance"

    def __post_init__(self) -> None:
        validate_namespace(self.ns)

    # -- streams ---------------------------------------------------------------
    @property
    def triggers(self) -> str:
        """Stream anyone may XADD ``trigger.run``/``trigger.emergency`` to."""
        return f"{self.ns}:stream:triggers"

    @property
    def emergency(self) -> str:
        """Stream of ``trigger.emergency`` only, read by the scheduler before
        :attr:`triggers` each turn, so an emergency never queues behind a trigger burst."""
        return f"{self.ns}:stream:emergency"

    def due(self, priority: str) -> str:
        """Stream of ``task.due`` events for one priority."""
        if priority not in PRIORITIES:
            raise ValueError(f"unknown priority {priority!r}; expected one of {PRIORITIES}")
        return f"{self.ns}:stream:due:{priority}"

    @property
    def due_streams(self) -> tuple[str, ...]:
        """All due streams, critical first."""
        return tuple(self.due(p) for p in PRIORITIES)

    @property
    def results(self) -> str:
        """Stream of ``task.result`` events."""
        return f"{self.ns}:stream:results"

    @property
    def alerts_stream(self) -> str:
        """Stream of ``alert.raised``/``alert.resolved`` events."""
        return f"{self.ns}:stream:alerts"

    @property
    def control(self) -> str:
        """Stream of control events (definition changed, pause, resume)."""
        return f"{self.ns}:stream:control"

    @property
    def progress_stream(self) -> str:
        """Capped stream of progress reports of running runs (plain fields, for live
        views; the latest report of each run is also in :meth:`run_progress`)."""
        return f"{self.ns}:stream:progress"

    @property
    def dead(self) -> str:
        """Dead-letter stream: rejected entries with the reason."""
        return f"{self.ns}:stream:dead"

    def requeued(self, entry_id: str) -> str:
        """Marker (with TTL) of a requeued dead letter: the entry it became, so a
        retried requeue returns it instead of writing the entry twice."""
        return f"{self.ns}:dead:{entry_id}:requeued"

    # -- read model ------------------------------------------------------------
    def result(self, run_id: str) -> str:
        """Hash with the latest result of one run."""
        return f"{self.ns}:result:{run_id}"

    @property
    def history(self) -> str:
        """Capped stream of all results."""
        return f"{self.ns}:history"

    def task_history(self, task: str) -> str:
        """Capped stream of one task's results."""
        return f"{self.ns}:history:{task}"

    def metrics(self, task: str, yyyymmdd: str) -> str:
        """Hash of one task's counters for one UTC day."""
        return f"{self.ns}:metrics:{task}:{yyyymmdd}"

    @property
    def alerts_active(self) -> str:
        """Sorted set of the active alerts' dedupe keys by first-seen epoch seconds (each
        alert is the hash :meth:`alert`)."""
        return f"{self.ns}:alerts"

    @property
    def alerts_resolved(self) -> str:
        """Sorted set of recently resolved alert keys by resolve time (their hashes expire)."""
        return f"{self.ns}:alerts:resolved"

    def alert(self, key: str) -> str:
        """Hash of one alert (``shared.contract.readmodel.AlertRecord``) by dedupe key."""
        return f"{self.ns}:alert:{key}"

    def outbox(self, delivery_id: str) -> str:
        """Hash of one notification delivery (alert, channel, state) in the notifier's outbox."""
        return f"{self.ns}:outbox:{delivery_id}"

    def outbox_due(self, channel: str) -> str:
        """Sorted set delivery id → when it may next be attempted, per channel."""
        return f"{self.ns}:outbox:due:{channel}"

    def channel_pace(self, channel: str) -> str:
        """Marker (with TTL) that a rate-limited channel sent a message just now."""
        return f"{self.ns}:outbox:pace:{channel}"

    @property
    def alerts_log(self) -> str:
        """Capped stream of every alert transition."""
        return f"{self.ns}:alerts:log"

    @property
    def schedule_next(self) -> str:
        """Sorted set task → next fire (epoch seconds)."""
        return f"{self.ns}:schedule:next"

    def schedule_state(self, task: str) -> str:
        """Hash of a task's schedule state (``shared.contract.readmodel.ScheduleState``)."""
        return f"{self.ns}:schedule:state:{task}"

    @property
    def schedule_slots(self) -> str:
        """Hash task → the pending (not yet handled) slot, epoch ms (scheduler state)."""
        return f"{self.ns}:schedule:slots"

    @property
    def schedule_paused(self) -> str:
        """Set of paused task names (mirrors ``paused`` in each schedule state hash)."""
        return f"{self.ns}:schedule:paused"

    @property
    def schedule_retries(self) -> str:
        """Sorted set of pending retries (``task|run_id|attempt|trigger|scheduled_for``) by
        the epoch seconds they are due."""
        return f"{self.ns}:schedule:retries"

    def running(self, task: str) -> str:
        """Sorted set run_id → lease expiry (epoch ms) of a task's unfinished runs."""
        return f"{self.ns}:running:{task}"

    def window_running(self, window: str) -> str:
        """Sorted set run_id → lease expiry (epoch ms) of unfinished runs in a window."""
        return f"{self.ns}:window:{window}:running"

    def policy_cooldown(self, policy: str) -> str:
        """Marker (with TTL) that a policy fired recently."""
        return f"{self.ns}:policy:{policy}:cooldown"

    def task_semaphore(self, task: str) -> str:
        """Leased semaphore bounding concurrent runs of ``task`` (``max_instances``)."""
        return f"{self.ns}:semaphore:task:{task}"

    def group_semaphore(self, group: str) -> str:
        """Leased semaphore of a named resource group (e.g. ``database: 1``)."""
        return f"{self.ns}:semaphore:group:{group}"

    def fired(self, task: str, slot: int | str) -> str:
        """Idempotency marker (with TTL) for one occurrence of a task that is not one of
        its schedule's slots (manual, emergency, policy, dependency, retry). Schedule
        slots, which fire in ascending order, have none: the state hash's ``fired_hwm``
        (the highest one emitted) stands for them all."""
        return f"{self.ns}:fired:{task}:{slot}"

    def decisions(self, task: str) -> str:
        """Capped list of why each slot of a task fired or did not, newest first."""
        return f"{self.ns}:decisions:{task}"

    def rollback(self, rollback_id: str) -> str:
        """Hash describing one rollback point."""
        return f"{self.ns}:rollback:{rollback_id}"

    @property
    def rollbacks(self) -> str:
        """Sorted set of rollback ids by creation time."""
        return f"{self.ns}:rollbacks"

    def executor(self, executor_id: str) -> str:
        """Heartbeat key of one executor (with TTL)."""
        return f"{self.ns}:executor:{executor_id}"

    @property
    def executors(self) -> str:
        """Sorted set executor id → epoch seconds its heartbeat is good until (readiness
        reads it instead of scanning for heartbeat keys)."""
        return f"{self.ns}:executors"

    def report(self, kind: str, date: str) -> str:
        """A stored report (``daily``/``weekly``) for one date."""
        return f"{self.ns}:reports:{kind}:{date}"

    def report_claim(self, kind: str, date: str) -> str:
        """Marker (SET NX, with TTL) of the reporter replica making one periodic report."""
        return f"{self.ns}:reports:{kind}:{date}:claim"

    def run_progress(self, run_id: str) -> str:
        """Hash with the progress a running handler reports."""
        return f"{self.ns}:run:{run_id}:progress"

    def cancel(self, run_id: str) -> str:
        """Marker (with TTL) asking the executor running ``run_id`` to cancel it; its
        value says who asked (see :mod:`shared.contract.cancel`)."""
        return f"{self.ns}:run:{run_id}:cancel"

    def attempts(self, run_id: str) -> str:
        """Counter of attempts started for a run (counted before running)."""
        return f"{self.ns}:run:{run_id}:attempts"

    @property
    def scheduler_leader(self) -> str:
        """Leader lease of the scheduler replicas."""
        return f"{self.ns}:scheduler:leader"

    @property
    def scheduler_epoch(self) -> str:
        """Fencing epoch, incremented on every leadership change."""
        return f"{self.ns}:scheduler:epoch"

    @property
    def deployment(self) -> str:
        """Marker the scheduler leader keeps (a random id): gone together with the task
        definitions, it means Redis lost its data set."""
        return f"{self.ns}:deployment"

    @property
    def taskdefs(self) -> str:
        """Hash task name → task definition as JSON (``shared.config.taskdefs``; written by
        apply and the API)."""
        return f"{self.ns}:taskdefs"

    @property
    def totals(self) -> str:
        """Hash of lifetime run counters per task (``shared.contract.tallies``)."""
        return f"{self.ns}:totals"

    @property
    def decision_tally(self) -> str:
        """Hash of lifetime decision counters per task, outcome and cause."""
        return self.counter("decisions")

    @property
    def lateness(self) -> str:
        """Hash: histogram of how late scheduled runs were emitted."""
        return self.counter("lateness")

    def counter(self, name: str) -> str:
        """Operational counters (e.g. dead-lettered entries per reader)."""
        return f"{self.ns}:counter:{name}"
