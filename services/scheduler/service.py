"""The scheduler service: leader-elected, turns schedules and triggers into ``task.due``.

Three loops run side by side in one replica:
- the lease loop takes the leader lease (a standby retries the moment the holder's
  lease would run out; a leader whose renewal was refused, e.g. after an outage,
  re-takes it at once if it is free) and renews it every third of its TTL; a new
  leader first checks that Redis did not lose its data (see ``recovery``);
- the event loop reads triggers, control events, results and alerts (group
  ``scheduler``, consumer ``leader`` so a new leader inherits unacked entries) with a
  blocking read, and wakes the timer when something changed;
- the timer loop sleeps until shortly before the earliest next fire or retry (woken
  early by events), stages that tick (reads and plans it, writes nothing), waits out
  the rest precisely and sends it: a fire's lateness is one script call. That call
  also reads what is due next, so a small next tick is planned at once and costs no
  other round trip;
- the trim loop, while leading, trims the consumed streams every ``streams.trim_every``
  (one trimmer for the whole deployment, never below a group's needs: ``shared.runtime.trim``).
Standbys hold no state: everything lives in Redis and is reloaded on acquisition.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from dataclasses import dataclass, field
from typing import Any, Final

from services.scheduler.emitter import Emitter, FencedOut
from services.scheduler.intake import Intake, kind_of, runs
from services.scheduler.lease import Lease
from services.scheduler.lookahead import EARLY_S, Ahead, StagePace, peek
from services.scheduler.recovery import DataGuard
from services.scheduler.runtime import Runtime
from services.scheduler.timer import Staged, fire, plannable_early, stage, tick
from shared.config import taskdefs
from shared.config.catalog import Catalog
from shared.config.models import Config
from shared.contract.events import TriggerRun
from shared.contract.keys import SCHEDULER_GROUP, Keys
from shared.contract.running import sweep_expired
from shared.runtime import timerslack
from shared.runtime.clock import Clock, SystemClock
from shared.runtime.collector import release_memory
from shared.runtime.consume import Batch, Consumer, Received
from shared.runtime.lane import Lane
from shared.runtime.logging import get_logger
from shared.runtime.loop import repeat_until
from shared.runtime.redis import BLOCK_MS, Redis, RedisUnavailable, consumer_name, ensure_group
from shared.runtime.trim import PeriodicTrim
from shared.runtime.wake import Wake

log = get_logger("watchkeeper.scheduler")

READ: Final = 128
"""Entries one read takes of each stream. Redis builds a read's reply while every other
client waits: reading 500 triggers and 500 results at once held it 1.8 ms (median of
the slowlog's reads over 1 ms in a 10,000-run burst, max 5.2 ms); a read costs the
scheduler ~100 µs, so 128 adds well under 1 µs per run."""
PART: Final = 24
"""Entries of a read handled in one go (one emission call for a run of triggers):
between two parts the leader handles what the standing read of the emergency stream
brought (shared.runtime.consume), so an emergency
waits for a part or two, not for a whole read of triggers and results. 24 rather than
32 (docs/performance-history.md, stop 26): a critical run's p99 during a 10,000-trigger burst
8.8-9.6 ms instead of 9.7-14.2, for 4-11 % of the burst's throughput."""
LEADER_CONSUMER: Final = "leader"
"""The one consumer name every leader reads as, so unacked entries survive failover."""
COARSE_S: Final = 0.001
"""Closer than this to a fire, :meth:`Scheduler._final_wait` stops using loop timers."""
TIMER_TICK_S: Final = 0.001
"""The event loop's timer resolution: uvloop (libuv) counts whole milliseconds from the
time its current iteration began, so a timer may end up to a tick early, and one asked
for less than half a tick ends at once. :meth:`Scheduler._final_wait` never asks for
less than a tick: waits of a few hundred µs made the loop spin (34 turns per fire on
average, 40-90 µs of CPU)."""
IDLE_S: Final = 30.0
"""Longest sleep with nothing scheduled (events still wake the timer at once)."""
RECHECK_S: Final = 1.0
"""Longest sleep towards a fire: the wait is computed on wall time, which can jump (an
NTP step, a VM resumed), and a long sleep would miss a slot the jump made due."""


@dataclass
class Scheduler:
    """One scheduler replica. ``run_once`` does one deterministic step (tests drive it)."""

    r: Redis
    config: Config
    clock: Clock = field(default_factory=SystemClock)
    name: str = field(default_factory=lambda: consumer_name("scheduler"))
    definitions: taskdefs.Packed | None = None
    """The config file's task definitions as stored, restored after Redis lost its data
    (None: packed from ``config.tasks``; a standalone replica passes them packed and
    drops the parsed tasks)."""
    keys: Keys = field(init=False)
    rt: Runtime = field(init=False)
    lease: Lease = field(init=False)
    intake: Intake = field(init=False)
    events: Consumer = field(init=False)
    recovery: DataGuard = field(init=False)
    trim: PeriodicTrim = field(init=False)
    wake: Wake = field(default_factory=Wake)
    leading: asyncio.Event = field(default_factory=asyncio.Event)
    fenced: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a fence refused us: the lease loop wakes to re-take the lease if free."""
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _touched: bool = field(default=False, init=False)
    """Whether the read in progress handled anything the timer must look at again."""
    _ahead: Ahead | None = None
    """What is due next, as last read (by a tick's last call or a peek); dropped when an
    event wakes the timer."""
    pace: StagePace = field(default_factory=StagePace)
    """How long staging takes per due entry here (the lead of a large tick)."""

    def __post_init__(self) -> None:
        self.keys = Keys(self.config.namespace)
        emitter = Emitter(self.r, self.keys, self.config.scheduler.decisions_kept)
        catalog = Catalog.from_config(self.config)
        self.rt = Runtime(self.r, self.config, self.clock, self.keys, emitter, catalog)
        self.lease = Lease(
            self.r, self.keys, self.name, self.config.scheduler.lease_ttl, self.clock
        )
        self.intake = Intake(self.rt, self.name)
        # Emergencies first: one read returns them ahead of a trigger burst in the batch,
        # and a standing read of the stream brings new ones between the parts of a long read.
        streams = (self.keys.emergency, self.keys.control, self.keys.triggers, self.keys.results,
                   self.keys.alerts_stream)  # fmt: skip
        self.events = Consumer(self.r, self.keys, streams, SCHEDULER_GROUP, LEADER_CONSUMER,
                               self._handle, reader=self.name, count=READ, clock=self.clock,
                               stop=self._stopping, part=PART,
                               express=(self.keys.emergency,))  # fmt: skip
        defined = self.definitions
        if defined is None:
            defined = taskdefs.Packed.of(taskdefs.dumped(self.config))
        self.recovery = DataGuard(self.r, self.keys, defined, self.clock)
        kept = self.config.streams
        self.trim = PeriodicTrim(self.r, self.keys, self.clock, kept.keep, kept.trim_every)

    async def start(self) -> None:
        """Create the consumer groups (results and alerts: only entries from now on)."""
        for stream in (self.keys.emergency, self.keys.triggers, self.keys.control):
            await ensure_group(self.r, stream, SCHEDULER_GROUP)
        for stream in (self.keys.results, self.keys.alerts_stream):
            await ensure_group(self.r, stream, SCHEDULER_GROUP, start_id="$")
        log.info("scheduler.started", name=self.name)

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set, then hand the lease over."""
        await self.start()
        # The final nap before a fire ends ~50 µs closer to its instant (this thread).
        timerslack.tighten()
        # The service writes on one dedicated connection, spoken to directly (see Emitter).
        self.rt.emitter.r = Lane(self.r.client(), name=f"{self.name}-emit")
        self.events.lane = Lane(self.r.client(), name=f"{self.name}-read")
        self.events.standing_lane = Lane(self.r.client(), name=f"{self.name}-express")
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._relay_stop(stop))
                group.create_task(repeat_until(stop, self._lease_step, name="scheduler.lease"))
                group.create_task(repeat_until(stop, self._event_step, name="scheduler.events"))
                group.create_task(repeat_until(stop, self._timer_step, name="scheduler.timer"))
                group.create_task(repeat_until(stop, self._trim_step, name="scheduler.trim"))
        finally:
            await asyncio.shield(self.lease.release())
            await self.rt.emitter.r.aclose()
            self.rt.emitter.r = self.r
            await self.events.close()
            await self.events.lane.aclose()
            self.events.lane = None
            await self.events.standing_lane.aclose()
            self.events.standing_lane = None

    async def run_once(self, *, block_ms: int | None = None) -> int:
        """Lead (acquire or renew), handle waiting entries, tick, trim the streams if a
        pass is due; return entries + emissions."""
        token = self.lease.token if await self._lead() else None
        if token is None:
            return 0
        handled = await self.events.step(block_ms=block_ms)
        await self.events.close()  # no standing read left out between two steps
        emitted: int = await self._guard(token, tick(self.rt, token, self.clock.time()))
        if await self.trim.step() is not None:
            await self._sweep_leases()
        return handled + emitted

    # -- loops ------------------------------------------------------------------
    async def _relay_stop(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._stopping.set()
        self.wake.set()
        self.leading.set()
        self.fenced.set()

    async def _lease_step(self) -> None:
        self.fenced.clear()
        if await self._lead():
            await _sleep(self.fenced, self.lease.ttl_s / 3)
        else:
            await self.recovery.observe()
            await _sleep(self._stopping, max(0.002, await self.lease.holder_ttl_s() + 0.001))

    async def _lead(self) -> bool:
        """Renew the lease; when not holding it (or just refused, as after an outage
        that outlasted it), take it at once if it is free. True while leading."""
        if self.lease.token is not None:
            if await self.lease.renew():
                return True
            self.leading.clear()
        return await self._acquire()

    async def _acquire(self) -> bool:
        if not await self.lease.acquire() or self.lease.token is None:
            return False
        try:
            await self.recovery.check()
            await self._guard(self.lease.token, self.rt.load(self.lease.token, self._keep))
        except Exception:
            # Leading on a half-loaded state would fire from stale definitions: give
            # the lease back so the next try (ours or a standby's) starts clean.
            with contextlib.suppress(*RedisUnavailable):
                await self.lease.release()
            self.lease.lost("load failed")
            raise
        if self.lease.token is None:
            return False  # fenced out while loading: the loops must keep waiting
        # What the load parsed and dropped goes back to the system (about 20 MB at
        # 100,000 tasks). The definitions just loaded live as long as the lease: keep
        # them out of the cyclic GC's full collections, which otherwise pause the loop
        # for tens of ms at 10,000 tasks (every fire late by as much).
        release_memory()
        gc.freeze()
        self.events.pending_first()  # what a previous leader (or we, fenced out) left unacked
        self.leading.set()
        self.wake.set()
        return True

    async def _keep(self) -> None:
        """Keep the lease through a long load; a refusal abandons the load."""
        if not await self.lease.keep():
            raise FencedOut("the lease was lost while loading")

    @property
    def _token(self) -> str | None:
        """The lease token once this replica leads on what it loaded: between taking the
        lease and the end of the load (a data-loss check and restore included), the
        events, timer and trim loops wait; an entry handled then would meet half-loaded
        definitions (a trigger of a task not yet restored refused as unknown)."""
        return self.lease.token if self.leading.is_set() else None

    async def _event_step(self) -> None:
        token = self._token
        if token is None:
            await self.leading.wait()
            return
        self._touched = False
        await self.events.step(block_ms=BLOCK_MS)
        if self._touched:
            self.wake.set()

    async def _handle(self, batch: Batch) -> None:
        """Hand each run of entries to the intake while this replica leads; entries met
        after losing the lease stay pending for the next leader.

        Anything but triggers may move a next fire, queue a retry or change what a staged
        tick planned from: the timer is woken after the read. Triggers only emit runs
        (the emission script checks leases itself), so a read of nothing else lets it sleep.
        """
        self._touched |= not all(kind_of(i.event) is TriggerRun for i in batch.received)
        token = self._token
        if token is None:
            batch.hold(batch.received)
            return

        async def dispatch(items: list[Received]) -> None:
            try:
                batch.acked(await self.intake.dispatch(token, items))
            except FencedOut:
                self._fenced(token)
                batch.hold(items)

        for items in runs(batch.received):
            if self._token != token:
                batch.hold(items)
            else:
                await batch.together(items, dispatch)

    async def _timer_step(self) -> None:
        token = self._token
        if token is None:
            await self.leading.wait()
            return
        staged = await self._stage_when_due()
        if staged is not None:
            # An event from here on wakes the timer: the lookahead the tick's last call
            # reads (after every write before it) is stale only if the timer is woken.
            self.wake.clear()
            await self._guard(token, fire(self.rt, token, staged, ahead=True))
            self._ahead = self.rt.emitter.take_ahead()

    async def _trim_step(self) -> None:
        if self._token is None:
            await self.leading.wait()
            return
        if await self.trim.step() is not None:
            await self._sweep_leases()
        await _sleep(self._stopping, self.trim.every_s)

    async def _sweep_leases(self) -> None:
        """Remove the run leases that expired with no result (see
        :mod:`shared.contract.running`), with each trim pass."""
        removed = await sweep_expired(self.r, self.keys, self.rt.tasks, self.rt.catalog.windows)
        if removed:
            log.info("scheduler.leases_expired", removed=removed)

    async def _stage_when_due(self) -> Staged | None:
        """Sleep until it is time to stage the earliest fire, stage it, then wait for its
        instant. None when woken early or when a change made the staged plan stale (then
        look again).

        A tick the last lookahead listed is planned at once (no read needed) and the
        wait goes straight to its instant, unless it plans from facts
        (:func:`~services.scheduler.timer.plannable_early`); that one, and a larger one,
        is staged :data:`EARLY_S` plus the time :attr:`pace` allows per entry before its
        instant (at least :data:`~services.scheduler.lookahead.STAGE_S_PER_TASK`).
        """
        if self.wake.is_set():
            self._ahead = None  # an event may have changed what is due
        self.wake.clear()
        ahead = self._ahead or await peek(self.r, self.keys, self.clock.time())
        self._ahead = ahead
        if ahead.at is None:
            await _sleep(self.wake, IDLE_S)
            return None
        early = plannable_early(self.rt, ahead)
        delay = ahead.at - self.clock.time() - (0 if early else ahead.lead_s(self.pace.per_entry_s))
        if delay > RECHECK_S:
            await _sleep(self.wake, RECHECK_S)
            return None  # look at the (wall) clock again
        if not early and delay > 0 and await _sleep(self.wake, delay):
            return None
        self._ahead = None
        version = self.rt.version
        # Woken late (a busy or paused process): take everything due by now at once.
        at = max(ahead.at, self.clock.time())
        began = time.perf_counter()
        staged = await stage(self.rt, at, ahead)
        self.pace.observe(staged.tasks, time.perf_counter() - began)
        if await self._final_wait(at, planned_early=early):
            return None
        return staged if self.rt.version == version else None

    async def _final_wait(self, due_at: float, *, planned_early: bool) -> bool:
        """Wait until ``due_at`` to within a few hundred µs; True when an event came while
        more than :data:`EARLY_S` was left of a plan made early (plan again).

        The loop's timers fire up to a millisecond late (epoll takes whole
        milliseconds), so they are used up to :data:`COARSE_S` before; the rest is one
        blocking nap: every wake-up costs tens of µs of CPU, so one nap beats many small
        ones. The loop is held for at most :data:`COARSE_S`, or up to a
        :data:`TIMER_TICK_S` more when its timer ended early.
        """
        while (left := due_at - self.clock.time()) > COARSE_S + TIMER_TICK_S:
            if not self.wake.is_set():
                await _sleep(self.wake, left - COARSE_S)
            elif planned_early and left > EARLY_S:
                return True
            else:  # an event came near the instant: the plan stands (as staged)
                await asyncio.sleep(left - COARSE_S)
        if left > 0:
            time.sleep(left)  # noqa: ASYNC251 (at most COARSE_S, see the docstring)
        return False

    async def _guard(self, token: str, work: Any) -> Any:
        """Run ``work``; a refused fence means another replica leads: step down."""
        try:
            return await work
        except FencedOut:
            self._fenced(token)
            return 0

    def _fenced(self, token: str) -> None:
        """A refused fence means another replica leads: step down."""
        log.warning("scheduler.fenced_out", name=self.name, token=token)
        if self.lease.token == token:
            self.lease.lost("fenced out")
            self.leading.clear()
            self.fenced.set()

    def describe(self) -> dict[str, Any]:
        """State for status displays."""
        return {"name": self.name, "leader": self.lease.token is not None,
                "tasks": sorted(self.rt.tasks)}  # fmt: skip


async def _sleep(event: asyncio.Event | Wake, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``event``; True when it was set."""
    if isinstance(event, Wake):  # the timer's own flag: the waits before each fire
        return await event.wait_up_to(seconds)
    if event.is_set():
        return True
    try:
        async with asyncio.timeout(max(0.0, seconds)):
            await event.wait()
    except TimeoutError:
        return False
    return True
