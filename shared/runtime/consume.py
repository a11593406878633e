"""The one consumer-group loop every reader uses (scheduler, reporter; the executor's
slot-aware intake uses its pieces).

One :meth:`Consumer.step`:

1. after a start, a failed batch or :meth:`Consumer.pending_first`, re-reads this
   consumer's own pending entries (from id 0) before anything new; every
   :data:`CLAIM_EVERY_S` it first claims entries left pending in the group past
   :data:`CLAIM_IDLE_MS` (a consumer that died with a batch in hand, a read whose reply
   was lost on the way) and handles them the same way;
2. reads a batch (XREADGROUP with COUNT and BLOCK), recreating the group from id 0 if
   Redis lost it;
3. admits each entry through the one decode rule (:func:`admit`): undecodable entries and
   types that do not belong on their stream are dead-lettered with the reason;
4. calls the handler with a :class:`Batch` of decoded entries; the handler runs each
   entry (or a group of them) in isolation through the batch. A consumer given a
   :attr:`~Consumer.part` size hands a long read over in parts of that many entries,
   and a standing read of its :attr:`~Consumer.express` streams is out from the first
   part to the last (blocking on the server up to :attr:`~Consumer.standing_ms`, sent
   again as soon as it returns): each part boundary handles what it gathered at once,
   with no round trip (an emergency does not wait for a backlog read just before it);
   what it brings after the last boundary is the next step's first read;
5. acks every settled entry in one XACK per stream. An entry whose handling raised stays
   pending and is retried after a bounded backoff; after :data:`MAX_TRIES` failures it
   is dead-lettered with the error, while the rest of its batch was processed at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from shared.contract.codec import EventDecodeError
from shared.contract.events import Event
from shared.contract.keys import Keys
from shared.contract.streams import decode_on
from shared.runtime.clock import Clock, SystemClock
from shared.runtime.lane import Lane
from shared.runtime.logging import get_logger
from shared.runtime.loop import sleep_or_stop
from shared.runtime.redis import (
    BLOCK_MS,
    Entry,
    Redis,
    RedisUnavailable,
    dead_letter,
    regrouping,
    text,
)

log = get_logger("watchkeeper.consume")

MAX_TRIES: Final = 3
"""Failed handlings of one entry before it is dead-lettered (a deterministic failure
would otherwise stay pending forever and be retried on every pending read)."""
FIRST_BACKOFF_S: Final = 0.1
MAX_BACKOFF_S: Final = 5.0
CLAIM_IDLE_MS: Final = 30_000
"""Entries pending this long in a group are abandoned: a reporter killed with a batch in
hand restarts under a new consumer name and never reads its old pending list again, and
a read whose reply was lost (the connection cut after Redis delivered) leaves its entries
pending where only a failover would look. Far above any handling time, so a live replica's
batch is not taken from it (and handling is idempotent when it is)."""
STANDING_MS: Final = 3
"""How long the standing read of the express streams blocks on the server
(:attr:`Consumer.standing_ms`): an entry wakes it at once, so this only sets how often it
is sent again during a long read (a round trip every 3 ms or more) and how long the
first read after one may wait for it to end. The scheduler's emergency stream was read
before with a look between parts at most every 1.5 ms: in one process a critical run's
read then went out 1.4 ms late at the median, 4.2 at p99 (docs/performance-history.md,
stop 29)."""
CLAIM_EVERY_S: Final = 10.0

EntryKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Received:
    """A decoded entry: where it came from and the event it carries."""

    entry: Entry
    event: Event

    @property
    def key(self) -> EntryKey:
        """``(stream, entry id)``: identifies the entry within its group."""
        return self.entry.stream, self.entry.entry_id


def _grouped(reply: Any) -> list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]:
    """A raw XREADGROUP reply as redis-py's ``xreadgroup`` returns it: per stream, its
    entries as (id, fields); a pending id whose entry was trimmed away has no fields.
    The lane speaks RESP2 (a list of [stream, entries]); its fallback speaks the pool's
    protocol, RESP3 with redis-py 8 (a map of stream -> entries)."""
    streams = reply.items() if isinstance(reply, dict) else reply or ()
    return [(stream, [(eid, dict(zip(f[::2], f[1::2], strict=True)) if f else {})
                      for eid, f in items])
            for stream, items in streams]  # fmt: skip


async def admit(r: Redis, keys: Keys, entry: Entry, group: str, *, reader: str) -> Event | None:
    """The entry's event, or None after dead-lettering it (undecodable, or a type that does
    not belong on its stream): the one rule every reader applies."""
    try:
        return decode_on(keys, entry.stream, entry.fields)
    except EventDecodeError as exc:
        await dead_letter(r, keys, entry, group, exc.reason, reader=reader)
        return None


async def follow(
    r: Redis, keys: Keys, stream: str, since: bytes | str, *, block_ms: int = 1_000
) -> AsyncIterator[Event]:
    """Events appended to ``stream`` after id ``since``, read without a group (an observer,
    such as ``run --wait``). The decode rule is :func:`admit`'s; entries that fail it are
    skipped here: the stream's group readers dead-letter them."""
    while True:
        reply: Any = await r.xread({stream: since}, count=100, block=block_ms)
        for _, items in reply or []:
            for entry_id, fields in items:
                since = entry_id
                try:
                    yield decode_on(keys, stream, fields)
                except EventDecodeError:
                    continue


@dataclass
class Batch:
    """The decoded entries of one read, and what became of each.

    An entry is settled (acked by the loop) unless its handling raised (then it stays
    pending and its failure is counted) or the handler :meth:`hold`\\ s it; a settled
    entry the handler acked itself (:meth:`acked`, e.g. in the script that acted on it)
    is not acked again.
    """

    received: list[Received]
    failed: dict[EntryKey, str] = field(default_factory=dict)
    held: set[EntryKey] = field(default_factory=set)
    done: set[EntryKey] = field(default_factory=set)
    """Entries the handler acked itself."""

    async def each(self, work: Callable[[Received], Awaitable[object]]) -> None:
        """Handle every entry alone, in order: one entry's failure touches no other."""

        async def one(items: list[Received]) -> object:
            return await work(items[0])

        for item in self.received:
            await self.together([item], one)

    async def together(
        self, items: list[Received], work: Callable[[list[Received]], Awaitable[object]]
    ) -> None:
        """Handle ``items`` in one call of ``work`` (which must be idempotent): if it raises,
        each item is retried alone, so only the entries that fail by themselves count.

        Redis being unreachable is not the entries' fault: it propagates (nothing is acked
        and the whole batch is read again once Redis is back).
        """
        try:
            await work(items)
        except RedisUnavailable:
            raise
        except Exception as exc:
            if len(items) > 1:
                for item in items:
                    await self.together([item], work)
                return
            self._fail(items[0], exc)

    def hold(self, items: Sequence[Received]) -> None:
        """Leave ``items`` pending without counting a failure (e.g. the reader lost its
        right to act on them); they are read again from the pending list."""
        self.held.update(item.key for item in items)

    def acked(self, items: Sequence[Received]) -> None:
        """Note that the handler acked ``items`` already (the loop does not ack them)."""
        self.done.update(item.key for item in items)

    def settled(self) -> list[Received]:
        """The entries to ack: neither failed nor held."""
        return [i for i in self.received if i.key not in self.failed and i.key not in self.held]

    def _fail(self, item: Received, exc: Exception) -> None:
        self.failed[item.key] = f"{type(exc).__name__}: {exc}"
        log.warning("consume.entry_failed", stream=item.entry.stream, id=item.entry.entry_id,
                    type=item.event.TYPE, error=self.failed[item.key])  # fmt: skip


Handler = Callable[[Batch], Awaitable[object]]


@dataclass
class Consumer:
    """Reads ``streams`` as ``consumer`` in ``group`` and feeds batches to ``handle``.

    ``reader`` names this replica in dead-letter records (defaults to ``consumer``).
    Groups are created by the service at start (it chooses where they begin); the
    consumer only recreates them, from id 0, when Redis lost them.
    """

    r: Redis
    keys: Keys
    streams: tuple[str, ...]
    group: str
    consumer: str
    handle: Handler
    reader: str = ""
    count: int = 100
    max_tries: int = MAX_TRIES
    claim_idle_ms: int = CLAIM_IDLE_MS
    clock: Clock = field(default_factory=SystemClock)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    part: int = 0
    """Hand a read to the handler in parts of at most this many entries (0: whole)."""
    express: tuple[str, ...] = ()
    """Streams (among :attr:`streams`) read by a standing read while a read is handled in
    parts: what comes there is handled at the next part boundary, before the rest of the
    read (and acked with it); what comes after the last boundary is read by the next
    :meth:`step` first."""
    standing_ms: int = STANDING_MS
    """How long the standing read blocks on the server (``XREADGROUP BLOCK``, through
    :attr:`standing_lane` or :attr:`r`); it is sent again as soon as it returns while the
    parts last."""
    lane: Lane | None = None
    """Where the reads and acks go when set (the service's own connection, spoken to
    directly: see :mod:`shared.runtime.lane`); else through :attr:`r`. A blocking read
    holds it, so it carries nothing else."""
    standing_lane: Lane | None = None
    """The standing read's own connection when set (a lane: its reply is taken as it
    arrives, not after redis-py's reader gets its turn); else through :attr:`r`."""
    _standing: asyncio.Task[None] | None = field(default=None, init=False)
    _parting: bool = field(default=False, init=False)
    _express_got: list[Entry] = field(default_factory=list, init=False)
    _looking: bool = field(default=False, init=False)
    _pending: bool = field(default=True, init=False)
    _tries: dict[EntryKey, int] = field(default_factory=dict, init=False)
    _backoff_s: float = field(default=0.0, init=False)
    _claim_at: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.reader = self.reader or self.consumer

    def pending_first(self) -> None:
        """Make the next step re-read this consumer's pending entries first, at once (e.g. a
        new leader inheriting what the previous one left unacked)."""
        self._pending = True
        self._backoff_s = 0.0

    async def step(self, block_ms: int | None = BLOCK_MS) -> int:
        """Read, admit, handle and ack one batch; returns how many entries were read.

        Waits out the backoff first when the previous batch left failed entries.
        """
        if self._backoff_s and await sleep_or_stop(self.clock, self.stop, self._backoff_s):
            return 0
        entries = await self._read(block_ms)
        if not entries:
            return 0
        try:
            await self._process(entries)
        except BaseException:
            self._pending = True  # whatever was not acked is read again from the PEL
            raise
        return len(entries)

    async def _process(self, entries: list[Entry]) -> None:
        """Admit and handle ``entries`` (in parts, with express looks between them), then
        ack every settled entry and count the failures, the looks' entries included."""
        parts = await self._handle_parts(entries)
        batch = Batch([item for part in parts for item in part.received])
        for part in parts:
            batch.failed.update(part.failed)
            batch.held.update(part.held)
            batch.done.update(part.done)
        await self._ack(batch.settled(), batch.done)
        await self._settle_failures(batch)

    async def _handle_parts(self, entries: list[Entry]) -> list[Batch]:
        """Hand ``entries`` to the handler :attr:`part` at a time, looking at the express
        streams between two parts; the batches handled, in order."""
        size = self.part or len(entries)
        parts: list[Batch] = []
        many = len(entries) > size and not self._looking
        if many:
            self._parting = True
            self._stand()  # out while the first part is handled
        try:
            for start in range(0, len(entries), size):
                if start:
                    parts += await self._look()
                parts.append(await self._handle_part(entries[start : start + size]))
        finally:
            if many:
                self._parting = False  # the standing read ends when its last read does
        return parts

    async def _handle_part(self, entries: list[Entry]) -> Batch:
        received = []
        for entry in entries:
            event = await admit(self.r, self.keys, entry, self.group, reader=self.reader)
            if event is not None:
                received.append(Received(entry, event))
        batch = Batch(received)
        if received:
            await self.handle(batch)
        return batch

    async def _look(self) -> list[Batch]:
        """Handle what the standing read brought since the last boundary now; acked with
        the read in progress. Not nested: the parts of a look look no further."""
        if self._looking or not self._express_got:
            return []
        entries, self._express_got = self._express_got, []
        self._looking = True
        try:
            return await self._handle_parts(entries)
        finally:
            self._looking = False

    def _stand(self) -> None:
        """Start the standing read of the express streams unless it is out (or there are
        none)."""
        if self.express and (self._standing is None or self._standing.done()):
            if self._standing is not None:
                self._collect(self._standing)
            self._standing = asyncio.create_task(self._stand_while_parting())

    async def _stand_while_parting(self) -> None:
        """Keep one blocking read of the express streams out while a read is handled in
        parts, gathering what comes for the part boundaries (:meth:`_look`)."""
        while True:
            got = await self._xreadgroup(">", self.standing_ms, self.express, direct=True)
            self._express_got.extend(got)  # the list of now: a boundary may have taken one
            if not self._parting:
                return

    def _collect(self, task: asyncio.Task[None]) -> None:
        """Note how a finished standing read ended: one that failed may have been given
        entries on the way, so the next step re-reads this consumer's pending entries."""
        if task.cancelled():
            self._pending = True
            return
        exc = task.exception()
        if isinstance(exc, RedisUnavailable):
            log.warning("consume.standing_read_failed", streams=list(self.express),
                        error=str(exc))  # fmt: skip
            self._pending = True
        elif exc is not None:
            raise exc

    async def _standing_entries(self, *, wait: bool) -> list[Entry]:
        """What the standing read gathered and no boundary took (``wait``: once its last
        read returned, at most :attr:`standing_ms` after the parts ended)."""
        task = self._standing
        if task is not None and (wait or task.done()):
            if not task.done():
                await asyncio.wait((task,))  # a cancel of this step leaves the read out
            self._standing = None
            self._collect(task)
        entries, self._express_got = self._express_got, []
        return entries

    async def close(self) -> None:
        """Stop the standing read; what it was given and no boundary handled stays
        pending, re-read by the next step (or the next start)."""
        task, self._standing = self._standing, None
        self._parting = False
        if task is None and not self._express_got:
            return
        self._express_got, self._pending = [], True
        if task is not None:
            task.cancel()
            await asyncio.wait((task,))
            if not task.cancelled():
                task.exception()  # retrieved: a failed read is no news at a stop

    async def _read(self, block_ms: int | None) -> list[Entry]:
        await self._claim_abandoned()
        if self._pending:
            # What the standing read gathered is pending too: this read has it.
            await self._standing_entries(wait=True)
            entries = await self._xreadgroup("0", None)
            if entries:
                return entries
            self._pending = False
            self._tries.clear()  # nothing pending: no failure is outstanding
        entries = await self._standing_entries(wait=False)
        if not entries and self._standing is not None and block_ms is not None:
            # A blocking read now would leave an entry the standing read gets unread
            # until it returns: read without blocking, then let the standing read end.
            entries = await self._xreadgroup(">", None)
            if not entries:
                entries = await self._standing_entries(wait=True)
        if not entries:
            entries = await self._xreadgroup(">", block_ms)
        return entries

    async def _claim_abandoned(self) -> None:
        """Every :data:`CLAIM_EVERY_S`, take over the group's entries idle past
        :attr:`claim_idle_ms` (JUSTID: their delivery count is left alone); they are then
        read with this consumer's own pending entries."""
        now = self.clock.monotonic()
        if self._claim_at is not None and now < self._claim_at:
            return
        self._claim_at = now + CLAIM_EVERY_S
        for stream in self.streams:

            async def claim(stream: str = stream) -> Any:
                return await self.r.xautoclaim(stream, self.group, self.consumer,
                                               self.claim_idle_ms, count=self.count,
                                               justid=True)  # fmt: skip

            claimed = await regrouping(self.r, self.streams, self.group, claim)
            if claimed:
                self._pending = True
                log.warning("consume.claimed_abandoned", stream=stream, group=self.group,
                            count=len(claimed))  # fmt: skip

    async def _xreadgroup(
        self, start: str, block_ms: int | None, streams: tuple[str, ...] = (), *,
        direct: bool = False,
    ) -> list[Entry]:  # fmt: skip
        """One read (``direct``: the standing read's, through :attr:`standing_lane` or
        :attr:`r`, never the lane of the other reads: it holds its connection while it
        blocks)."""
        streams = streams or self.streams

        lane = self.standing_lane if direct else self.lane

        async def read() -> Any:
            if lane is not None:
                return _grouped(await lane.execute_command(
                    "XREADGROUP", "GROUP", self.group, self.consumer, "COUNT", self.count,
                    *(() if block_ms is None else ("BLOCK", block_ms)),
                    "STREAMS", *streams, *[start] * len(streams)))  # fmt: skip
            return await self.r.xreadgroup(self.group, self.consumer,
                                           dict.fromkeys(streams, start),
                                           count=self.count, block=block_ms)  # fmt: skip

        reply: Any = await regrouping(self.r, streams, self.group, read)
        entries: list[Entry] = []
        for stream, items in reply or []:
            name = text(stream)
            entries += [Entry(name, text(eid), f) for eid, f in items if f]
            # Pending ids whose entry was trimmed away (no fields; XADD needs at least
            # one): nothing left to handle or keep.
            gone = [text(eid) for eid, f in items if not f]
            if gone:
                await self.r.xack(name, self.group, *gone)
                log.warning("consume.trimmed_pending", stream=name, ids=gone)
        return entries

    async def _ack(self, settled: list[Received], done: set[EntryKey]) -> None:
        by_stream: dict[str, list[str]] = {}
        for item in settled:
            self._tries.pop(item.key, None)
            if item.key not in done:
                by_stream.setdefault(item.entry.stream, []).append(item.entry.entry_id)
        for stream, ids in by_stream.items():
            if self.lane is not None:
                await self.lane.execute_command("XACK", stream, self.group, *ids)
            else:
                await self.r.xack(stream, self.group, *ids)

    async def _settle_failures(self, batch: Batch) -> None:
        """Count failures; dead-letter entries that failed :attr:`max_tries` times; back off
        while anything stays pending."""
        for item in batch.received:
            reason = batch.failed.get(item.key)
            if reason is None:
                continue
            tries = self._tries[item.key] = self._tries.get(item.key, 0) + 1
            if tries >= self.max_tries:
                del self._tries[item.key]
                await dead_letter(self.r, self.keys, item.entry, self.group,
                                  f"handling failed {tries} times: {reason}",
                                  reader=self.reader)  # fmt: skip
        left = any(item.key in self._tries for item in batch.received) or batch.held
        if left:
            self._pending = True
            self._backoff_s = min(max(FIRST_BACKOFF_S, 2 * self._backoff_s), MAX_BACKOFF_S)
        else:
            self._backoff_s = 0.0
