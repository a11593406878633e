"""The executor service: consumes due entries and runs them with bounded concurrency.

Three loops share one set of slots: intake (new entries, most urgent first), the
reclaimer (entries of dead executors) and liveness (heartbeat, keeping in-flight
entries and leases fresh). Liveness outlives the other two so that runs finishing
during the grace period are never mistaken for abandoned ones. A fourth task, the
critical watch, wakes a busy intake when a critical run is due and starts the read of
it at once (:meth:`Executor.take_critical`): in one slot beyond ``max_concurrent`` if all
are taken (critical runs only, never more).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path

from services.executor.attempt import Attempt, with_attempt
from services.executor.critical_watch import CriticalWatch
from services.executor.guard import ResourceGuard
from services.executor.handlers import registry
from services.executor.handlers.artifact_prune import prune_artifacts
from services.executor.heartbeat import Heartbeat
from services.executor.intake import Intake, Taken
from services.executor.preserve import Preserver
from services.executor.reclaim import Claimed, Reclaimer
from services.executor.rollback import RollbackStore
from services.executor.semaphores import Lease
from shared.config.models import Config
from shared.contract.events import TaskDue
from shared.contract.keys import EXECUTORS_GROUP, Keys
from shared.runtime.clock import Clock, SystemClock
from shared.runtime.collector import startup_frozen
from shared.runtime.consume import admit
from shared.runtime.lane import Lane
from shared.runtime.logging import get_logger
from shared.runtime.loop import repeat_until, sleep_or_stop, wait_set
from shared.runtime.redis import (
    Entry,
    Redis,
    RedisUnavailable,
    consumer_name,
    ensure_group,
    text,
)
from shared.runtime.throttle import LogThrottle
from shared.runtime.wake import Wake

log = get_logger("watchkeeper.executor")
WATCH_STOP_S = 2.0
"""How long the stop waits for the critical watch to end before it drains anyway."""
IDLE_BLOCK_MS = 1_000
"""How long an idle intake blocks: also the longest a stop request waits for it."""
FORGET_AFTER_VISIBILITY = 3
"""A consumer idle this many visibility timeouts, without heartbeat or pending, is gone."""
FORGET_EVERY_S = 60.0
CANCEL_POLL_S = 1.0
"""Longest a cancel request waits for the liveness loop to notice it."""
Slot = tuple[str, str]


@dataclass
class Executor:
    """One executor replica (consumer in group ``executors``)."""

    r: Redis
    config: Config
    clock: Clock = field(default_factory=SystemClock)
    id: str = field(default_factory=lambda: consumer_name("executor"))
    keys: Keys = field(init=False)
    inflight: dict[Slot, asyncio.Task[None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        s = self.config.executor
        self.keys = Keys(self.config.namespace)
        # Keep entries and leases fresh well within the visibility timeout.
        self.keepalive_s = max(0.05, min(s.heartbeat_interval, s.visibility_timeout / 3))
        store = RollbackStore(self.r, self.keys, Path(s.rollback_dir), self.clock)
        self.guard = ResourceGuard(s.defer_cpu_above, s.defer_memory_above)
        self.reclaimer = Reclaimer(self.r, self.id, int(s.visibility_timeout * 1000))
        self.heartbeat = Heartbeat(self.r, self.keys, self.id, self.clock, self.keepalive_s,
                                   s.max_concurrent)  # fmt: skip
        self.attempt = Attempt(
            self.r, self.keys, self.clock, self.id, tuple(s.allowed_roots),
            preserver=Preserver(store, s.rollback_max_age, s.rollback_max_points,
                                s.rollback_max_bytes),
            resource_groups=dict(s.resource_groups), artifacts_dir=Path(s.artifacts_dir),
            database_url=self.config.database.url,
            lease_ms=int(max(s.visibility_timeout, 3 * self.keepalive_s) * 1000),
            publish_until=self._reclaimable_at,
        )  # fmt: skip
        self.intake = Intake(self.r, self.keys, self.id, holder_suffix=f"@{self.id}",
                             lease_ms=self.attempt.lease_ms,
                             resource_groups=self.attempt.resource_groups)  # fmt: skip
        self._wake = Wake()  # a slot freed or a critical run appeared
        self.critical = CriticalWatch(self.r, self.keys.due("critical"), self.clock,
                                      wake=self._wake, on_arrival=self.take_critical)  # fmt: skip
        self._urgent: asyncio.Task[None] | None = None
        self._taking = asyncio.Lock()
        self._stop = asyncio.Event()
        self._forget_at = 0.0
        self._since: dict[str, str] | None = None
        """The last ids of the latest read that left slots free with no run going before
        it: the next take waits from there (None: it filled them, or runs were going)."""

    def _reclaimable_at(self) -> float:
        """When (``clock.monotonic()``) this executor's entries may be reclaimed: a
        visibility timeout after they were last kept alive, less one keepalive of margin."""
        visibility_s = self.config.executor.visibility_timeout
        return self.heartbeat.kept_alive_at + visibility_s - self.keepalive_s

    @property
    def free(self) -> int:
        """Slots not taken by in-flight runs."""
        return self.config.executor.max_concurrent - len(self.inflight)

    async def start(self) -> None:
        """Load the handlers (configured plugins, built-ins and entry points) and create
        the group on every due stream."""
        registry.load_plugins(self.config.executor.plugins)
        registry.load_all()  # now, not in the first run's start-up latency
        for stream in self.keys.due_streams:
            await ensure_group(self.r, stream, EXECUTORS_GROUP)
        await self.heartbeat.beat({})
        await self.prune_artifacts()
        log.info("executor.started", id=self.id, max_concurrent=self.config.executor.max_concurrent)

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop``; then let in-flight runs finish within the grace period.

        Runs still going after the grace period are cancelled and left unacked: another
        executor reclaims them once they are idle past the visibility timeout.
        """
        self._stop = stop
        await self.start()
        # Takes and results each go on a connection of their own, spoken to directly.
        lanes = (Lane(self.r.client(), name=f"{self.id}-take"),
                 Lane(self.r.client(), name=f"{self.id}-publish"))  # fmt: skip
        self.intake.lane, self.attempt.publisher.lane = lanes
        beats_end = asyncio.Event()
        liveness = asyncio.create_task(self._keep_alive(beats_end), name="executor.liveness")
        watch = asyncio.create_task(self.critical.watch(), name="executor.critical_watch")
        unblock = asyncio.create_task(self._unblock_at(stop), name="executor.unblock")
        try:
            with startup_frozen():
                async with asyncio.TaskGroup() as group:
                    group.create_task(repeat_until(stop, self.run_once, name="executor"))
                    group.create_task(repeat_until(stop, lambda: self._reclaim_then_wait(stop),
                                                   name="executor.reclaim"))  # fmt: skip
        finally:
            unblock.cancel()
            watch.cancel()
            # Bounded: the watch only hints, and a read cancelled while redis-py
            # reconnects must not hold up the drain of the runs in flight. A critical
            # read it started is never cancelled (what it took starts, and is drained).
            urgent = {self._urgent} if self._urgent is not None else set()
            await asyncio.wait({watch, *urgent}, timeout=WATCH_STOP_S)
            if not watch.done():
                log.warning("executor.critical_watch_stop_slow", waited_s=WATCH_STOP_S)
            await self.drain(self.config.executor.grace_period)
            beats_end.set()  # ends the loop even where a cancel is lost (below)
            liveness.cancel()
            await asyncio.gather(liveness, return_exceptions=True)
            with contextlib.suppress(*RedisUnavailable):
                await self.heartbeat.clear()
            self.intake.lane = self.attempt.publisher.lane = None
            for lane in lanes:
                await lane.aclose()
            log.info("executor.stopped", id=self.id)

    async def run_once(self, block_ms: int | None = None) -> int:
        """Take what fits in the free slots and start it; wait for work or a slot if idle
        (up to ``block_ms``; None: :data:`IDLE_BLOCK_MS`).

        A critical run seen by the watch is taken at once, alone, even with every slot
        busy: then in one slot beyond ``max_concurrent`` (only while that one is free).
        """
        block_ms = IDLE_BLOCK_MS if block_ms is None else block_ms
        if not await self._slots_worth_reading(block_ms):
            return 0
        if self._critical_due():
            taken, _ = await self._take(("critical",), critical_due=True)
            return len(taken.entries)
        taken, want = await self._take(self.guard.priorities(), since=self._since,
                                       block_ms=block_ms)  # fmt: skip
        # The streams held fewer than the free slots: nothing is left to take until
        # something newer than the ids the read saw arrives (no second read to find that
        # out). With no run going before this read, the next take waits for it with the
        # take queued behind the wait (no round trip after the wake-up: a run arriving
        # at a quiet executor). A busy one waits here and reads after: Redis runs a
        # queued take before it answers the write that woke it (the scheduler's
        # emission), so under load the take would hold up the writer each time.
        self._since = None
        if len(taken.entries) < want:
            if len(self.inflight) == len(taken.entries):
                self._since = taken.last_ids
            else:
                await self._unless_stopped(self.intake.wait_for_work(taken.last_ids, block_ms))
        return len(taken.entries)

    async def _unblock_at(self, stop: asyncio.Event) -> None:
        """At stop, end the intake's wait at once (the grace period starts now, not a
        block later)."""
        await stop.wait()
        try:
            await self.intake.unblock()
        except RedisUnavailable as exc:  # the wait ends with its connection anyway
            log.warning("executor.unblock_failed", error=f"{type(exc).__name__}: {exc}")

    def take_critical(self) -> None:
        """Start the read of a critical run the watch just saw, when the intake would take
        it alone (:meth:`_critical_due`): from the watch, without waiting for the intake
        loop to be woken. At most one such read at a time; any other case is the intake's.
        """
        if self._stop.is_set() or not self._critical_due():
            return
        if self._urgent is None or self._urgent.done():
            self._urgent = asyncio.create_task(self._take_critical(), name="executor.critical")

    async def _take_critical(self) -> None:
        try:
            await self._take(("critical",), critical_due=True)
        except Exception as exc:  # the intake loop reads it again (the event stays set)
            self.critical.arrived.set()
            log.warning("executor.critical_take_failed", error=f"{type(exc).__name__}: {exc}")

    async def _take(
        self, priorities: tuple[str, ...], *, critical_due: bool = False,
        since: dict[str, str] | None = None, block_ms: int = IDLE_BLOCK_MS,
    ) -> tuple[Taken, int]:  # fmt: skip
        """Take and start runs of ``priorities``, as many as the slots free once no other
        read is in progress (nothing, and no last ids, when none is); returns what was
        taken and how many were wanted. A read of the critical stream answers the watch,
        unless it filled every slot with critical runs and the stream holds newer ones:
        then the watch's event stays set.

        ``critical_due``: the read of a critical run the watch saw, made only if
        :meth:`_critical_due` still holds then (at least one run: the reserved slot).
        ``since``: the last ids an earlier read saw; the take then waits (up to
        ``block_ms``, or until stop) for an entry newer than those before it reads.
        """
        async with self._taking:
            if critical_due:
                want = max(1, self.free) if self._critical_due() else 0
            else:
                want = self.free
            if want <= 0:
                return Taken([], []), 0
            if "critical" in priorities:
                self.critical.arrived.clear()
            if since:
                taken = await self.intake.take_when_new(since, want, priorities,
                                                        block_ms=block_ms)  # fmt: skip
            else:
                taken = await self.intake.take(want, priorities)
            await self._start(taken.entries, taken.attempts, taken.leases)
        if taken.entries:
            # Let the runs just created start before this task builds and sends its next
            # read (a script call's worth of CPU that would otherwise come first).
            await asyncio.sleep(0)
        if len(taken.entries) == want and taken.entries:
            last, critical = taken.entries[-1], self.keys.due("critical")
            if last.stream == critical and last.entry_id != text(taken.last_ids[critical]):
                self.critical.arrived.set()
        return taken, want

    def _critical_due(self) -> bool:
        """Whether the watch saw a critical run while too busy for a plain read, and a
        slot (the reserved one included) is free for it."""
        busy = self.free < self._batch and bool(self.inflight)
        return busy and self.free >= 0 and self.critical.arrived.is_set()

    @property
    def _batch(self) -> int:
        """Free slots a busy executor waits for before reading (a quarter of them)."""
        return max(1, self.config.executor.max_concurrent // 4)

    async def _slots_worth_reading(self, block_ms: int) -> bool:
        """Wait (up to ``block_ms``) until a read is worth its round trips.

        Idle: any free slot. Busy: a quarter of the slots, so a loaded executor reads in
        batches instead of one entry per freed slot; or a critical run the watch saw.
        """
        give_up = self.clock.monotonic() + block_ms / 1000
        while self.free <= 0 or (self.inflight and self.free < self._batch):
            if self._critical_due():
                return not self._stop.is_set()
            self._wake.clear()
            left = give_up - self.clock.monotonic()
            if left <= 0 or self._stop.is_set():
                return self.free > 0 and not self._stop.is_set()
            await self._unless_stopped(self._wake.wait_up_to(left))
        return True

    async def _unless_stopped(self, waiting: Awaitable[object]) -> None:
        """Await ``waiting`` (a pure wait, safe to abandon) until done or stop is set, so
        the grace period starts when the stop request arrives, not a block later."""
        tasks = [asyncio.ensure_future(waiting), asyncio.ensure_future(self._stop.wait())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def reclaim_once(self) -> int:
        """Take over idle entries of dead executors (within free slots); returns how many."""
        adopted = 0
        async with self._taking:
            for priority in self.guard.priorities():
                if self.free <= 0:
                    break
                claimed = await self.reclaimer.claim(self.keys.due(priority), self.free)
                runnable = [c.entry for c in claimed if await self._runnable(c)]
                await self._start(runnable)
                adopted += len(runnable)
        return adopted

    async def forget_dead_consumers(self) -> list[str]:
        """Drop group consumers of executors long gone (no heartbeat, nothing pending)."""
        idle_ms = int(FORGET_AFTER_VISIBILITY * self.config.executor.visibility_timeout * 1000)
        removed: list[str] = []
        for stream in self.keys.due_streams:
            removed += await self.reclaimer.forget_dead(stream, self._alive, idle_ms)
        return removed

    async def prune_artifacts(self) -> list[str]:
        """Remove run artifacts older than ``executor.artifacts_max_age``."""
        s = self.config.executor
        pruned = await asyncio.to_thread(prune_artifacts, Path(s.artifacts_dir),
                                         s.artifacts_max_age, self.clock.time())  # fmt: skip
        if pruned:
            log.info("executor.artifacts_pruned", runs=len(pruned))
        return pruned

    async def _alive(self, executor_id: str) -> bool:
        return bool(await self.r.exists(self.keys.executor(executor_id)))

    async def _reclaim_then_wait(self, stop: asyncio.Event) -> None:
        await self.reclaim_once()
        if self.clock.monotonic() >= self._forget_at:
            self._forget_at = self.clock.monotonic() + FORGET_EVERY_S
            await self.forget_dead_consumers()
            await self.prune_artifacts()
        await wait_set(stop, self.keepalive_s)

    async def _runnable(self, claimed: Claimed) -> bool:
        """Whether a claimed entry should run; one delivered too often is dead-lettered."""
        entry = claimed.entry
        if (entry.stream, entry.entry_id) in self.inflight:
            return False  # our own run looked idle (a stalled loop); it is still going
        limit = self.config.executor.max_deliveries
        if claimed.deliveries <= limit:
            return True
        reason = f"delivered {claimed.deliveries} times (max_deliveries {limit})"
        due = await self._decode(entry)
        if due is not None:
            result = self.attempt.dead_lettered(await self.attempt.counted(due), reason)
            await self.attempt.publisher.dead_letter_run(entry, result, due, reason)
        return False

    async def _decode(self, entry: Entry) -> TaskDue | None:
        """The entry's TaskDue, or None once it was dead-lettered by the one admit rule
        (a due stream admits nothing but ``task.due``)."""
        event = await admit(self.r, self.keys, entry, EXECUTORS_GROUP, reader=self.id)
        return event if isinstance(event, TaskDue) else None

    async def _start(
        self, entries: list[Entry], attempts: list[int] | None = None,
        leases: list[Lease | None] | None = None,
    ) -> None:  # fmt: skip
        """Decode ``entries``, count the attempts not counted yet (``attempts``, from the
        intake's read, 0 for none) together, then start each run, holding the leases the
        intake took for it (``leases``; given back for an entry that cannot run)."""
        counts = attempts or [0] * len(entries)
        runs = []
        for entry, n, lease in zip(entries, counts, leases or [None] * len(entries),
                                   strict=True):  # fmt: skip
            due = await self._decode(entry)
            if lease is not None:
                self.attempt.semaphores.adopt(lease)
                if due is None:
                    await self.attempt.semaphores.release(lease.holder)
            if due is not None:
                runs.append((entry, due, n))
        if not runs:
            return
        uncounted = await self.attempt.count([due for _, due, n in runs if not n])
        for entry, due, n in runs:
            counted = with_attempt(due, n) if n else uncounted.pop(0)
            task = asyncio.create_task(self._run(entry, counted), name=f"run:{due.run_id}")
            self.inflight[(entry.stream, entry.entry_id)] = task

    async def _run(self, entry: Entry, due: TaskDue) -> None:
        try:
            await self.attempt.run(entry, due)
        except RedisUnavailable as exc:
            log.error("run.publish_failed", run_id=due.run_id, error=str(exc))
        except Exception:  # left unacked: redelivered after the visibility timeout
            log.exception("run.crashed", run_id=due.run_id, task=due.task)
        finally:
            self.inflight.pop((entry.stream, entry.entry_id), None)
            self._wake.set()

    async def _keep_alive(self, end: asyncio.Event) -> None:
        """Beat every keepalive interval; between beats, check for cancel requests at
        least every :data:`CANCEL_POLL_S` (one MGET, only while runs are in flight), until
        ``end``.

        A cancel alone did not always end it: one that arrived during the heartbeat's
        round trips was at times absorbed inside redis-py (its sends under Python 3.11's
        ``wait_for``, since made cancel-safe by :mod:`shared.runtime.send_timeout`), and
        the loop went on beating past the executor's stop. The flag stays as a second
        guard."""
        throttle = LogThrottle(self.clock)  # an outage must not log a line per beat
        tick_s = min(self.keepalive_s, CANCEL_POLL_S)
        beat_at = self.clock.monotonic()
        while not end.is_set():
            try:
                await self.attempt.cancels.poll()
                if self.clock.monotonic() >= beat_at:
                    beat_at = self.clock.monotonic() + self.keepalive_s
                    await self.heartbeat.beat({eid: stream for stream, eid in self.inflight})
                    await self.attempt.semaphores.renew_all()
                throttle.clear()
            except Exception as exc:
                _log_beat_failure(throttle, exc)
            await sleep_or_stop(self.clock, end, tick_s)

    async def drain(self, grace_s: float) -> None:
        """Wait up to ``grace_s`` for in-flight runs, then cancel the rest (left unacked)."""
        if not self.inflight:
            return
        log.info("executor.draining", inflight=len(self.inflight), grace_s=grace_s)
        _, pending = await asyncio.wait(list(self.inflight.values()), timeout=grace_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if pending:
            log.warning("executor.left_for_reclaim", runs=len(pending))


def _log_beat_failure(throttle: LogThrottle, exc: Exception) -> None:
    unavailable = isinstance(exc, RedisUnavailable)
    allowed = throttle.allow("redis_unavailable" if unavailable else "error")
    if allowed is not None:
        log.warning("executor.heartbeat_failed", error=f"{type(exc).__name__}: {exc}",
                    repeats=allowed.held, exc_info=allowed.first and not unavailable)  # fmt: skip
