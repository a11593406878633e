"""Fenced, atomic writes of the scheduler: emissions and schedule moves (Lua, batched).

Every call carries the leader token; Redis refuses the whole call when the token no
longer holds the lease (:class:`FencedOut`). An emission checks that its occurrence was
not emitted before (a schedule slot: above the task's ``fired_hwm``, the highest one
emitted; any other: its fired marker, set NX), XADDs ``task.due``, takes a run lease for
``max_instances``/window accounting, records the decision, moves the task's next fire
and acks the trigger it came from (if any), all in one script.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final

from services.scheduler import itemwire as iw
from services.scheduler.kit import RAW, Fired, Then, map_header, pairs
from services.scheduler.lookahead import LISTED, Ahead, parse
from shared.contract.codec import encode
from shared.contract.decisions import Decision
from shared.contract.emission import FENCED, EmitCode
from shared.contract.events import SCHEMA_VERSION, TaskDue
from shared.contract.keys import SCHEDULER_GROUP, Keys
from shared.contract.scripts import ScriptClient, run
from shared.contract.tallies import decision_field
from shared.runtime.redis import Redis

FIRED_TTL_MS: Final = 7 * 86_400_000
"""How long the fired marker of a manual, emergency, policy, dependency or retry run lives:
longer than any redelivery of the entry it came from."""
BATCH: Final = 500
"""Emissions per script call: large enough to amortise round trips, small enough that
one call never blocks Redis for long."""
END: Final = "-"
"""A :class:`Move` score that ends the task's schedule."""


class FencedOut(RuntimeError):
    """This replica's leader token is stale: another replica leads now."""


@dataclass(frozen=True, slots=True)
class Move:
    """Move a task's next fire to ``score`` (:data:`END` ends it), keeping or setting its
    pending slot."""

    task: str
    score: str
    slot: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Emission:
    """One ``task.due`` to emit and what to do with the task's schedule afterwards.

    ``then`` is the task's schedule after the emission (None leaves it alone: manual,
    retry, …); ``defer_at`` is where its next fire moves when it is deferred.
    ``report_busy`` items (requests, retries) only report a busy code: the caller
    refuses or re-queues them and records why.
    """

    due: TaskDue
    slot: str
    window: str | None = None
    window_max: int = 0
    overlap: str = "skip"
    then: Move | None = None
    defer_at: float | None = None
    lease_ms: int = 0
    report_busy: bool = False
    body: bytes = b""
    """``due``'s wire body when the caller encoded it already (else it is encoded here)."""
    ack: tuple[str, str] | None = None
    """``(stream, entry id)`` of the trigger this run comes from: the script acks it in
    the scheduler's group when the run is emitted (or was before), in the same call."""

    @property
    def scheduled_for(self) -> float:
        """When the run was due (``due.scheduled_for``)."""
        return self.due.scheduled_for


@dataclass(frozen=True, slots=True)
class Packed:
    """One script call's writes, encoded ahead of the call; ``items`` codes come back.
    A call with ``ahead`` also reads what is due next (:attr:`Emitter.ahead`)."""

    blob: bytes
    items: int
    ahead: bool = False


@dataclass
class Emitter:
    """Runs the fenced write script for one namespace.

    ``r`` is meant to be a :class:`~shared.runtime.lane.Lane` (the service's) or a
    single-connection client (``Redis.client()``): writes reach Redis in call order, and
    a call is on the wire after the calling task's first step (a pooled client checks the
    connection first, which yields to the loop).
    """

    r: Redis | ScriptClient
    keys: Keys
    decisions_kept: int = 1000
    ahead: Ahead | None = field(default=None, init=False)
    """What the last call sent with ``ahead`` said is due next (None once taken)."""

    async def emit(self, token: str, items: Sequence[Emission], now_ms: int) -> list[EmitCode]:
        """Emit ``items`` in batches; one code per item."""
        return await self.write(token, now_ms, items)

    async def advance(
        self, token: str, moves: Sequence[Move], decisions: Sequence[tuple[str, Decision]],
        now_ms: int,
    ) -> None:  # fmt: skip
        """Move schedules and record ``(task, decision)`` pairs without emitting."""
        if moves or decisions:
            await self.write(token, now_ms, (), moves, decisions)

    async def write(
        self, token: str, now_ms: int, items: Sequence[Emission],
        moves: Sequence[Move] = (), decisions: Sequence[tuple[str, Decision]] = (),
    ) -> list[EmitCode]:  # fmt: skip
        """:meth:`pack` then :meth:`send` each call; one code per item."""
        codes: list[EmitCode] = []
        for call in self.pack(items, moves, decisions):
            codes += await self.send(token, now_ms, call)
        return codes

    def pack(
        self, items: Sequence[Emission | Fired], moves: Sequence[Move] = (),
        decisions: Sequence[tuple[str, Decision]] = (),
    ) -> list[Packed]:  # fmt: skip
        """Encode ``moves``, then ``decisions``, then ``items`` as script calls of at most
        :data:`BATCH` items each (CPU only, nothing is sent); none when all are empty.

        The batch map is joined from encoded parts: the items, one binary string of
        their fields (:mod:`~services.scheduler.itemwire`; a :class:`Fired` comes encoded
        already), their count, the profiles they share and the constant tail
        (:meth:`counters`, the code words, the key prefixes)."""
        if not (items or moves or decisions):
            return []
        first = pairs(RAW, {
            "moves": [move_map(m) for m in moves],
            "decisions": [{"key": self.keys.decisions(task), "fields": d.wire(),
                           "tally": decision_field(d.outcome, d.cause or "", task)}
                          for task, d in decisions],
        })  # fmt: skip
        calls = []
        tail, size = self._tail
        for start in range(0, max(1, len(items)), BATCH):
            chunk = items[start : start + BATCH]
            encoded, profiles = self._items(chunk)
            head = first if start == 0 else NO_HEAD
            blob = b"".join([
                map_header(RAW, 5 + size), head, ITEMS, RAW.pack(encoded),
                COUNT, RAW.pack(len(chunk)),
                PROFILES, RAW.pack_array_header(len(profiles)), *profiles, tail,
            ])  # fmt: skip
            calls.append(Packed(blob, len(chunk)))
        return calls

    def _items(self, chunk: Sequence[Emission | Fired]) -> tuple[bytes, list[bytes]]:
        """``chunk``'s items encoded one after the other, and the distinct profiles they
        index."""
        index: dict[bytes, bytes] = {}
        parts: list[bytes] = []
        for item in chunk:
            profile, rest = self.item_parts(item)
            at = index.get(profile)
            if at is None:
                at = index[profile] = iw.index(len(index) + 1)
            parts += (at, rest)
        return b"".join(parts), list(index)

    def item_parts(self, item: Emission | Fired) -> tuple[bytes, bytes]:
        """One item of the batch, encoded: its profile and its fields after ``profile``."""
        if isinstance(item, Fired):
            return item.profile, item.packed
        it = self.item_map(item)
        return iw.profile(it), iw.values(it)

    @cached_property
    def _tail(self) -> tuple[bytes, int]:
        """The batch's constant pairs, encoded, and how many there are."""
        k = self.keys
        prefix = {"fired": _prefix(k.fired(_MARK, "x"), ":x"), "running": _prefix(k.running(_MARK)),
                  "state": _prefix(k.schedule_state(_MARK)),
                  "decisions": _prefix(k.decisions(_MARK))}  # fmt: skip
        tail = {"group": SCHEDULER_GROUP, "prefix": prefix, **self.counters()}
        return pairs(RAW, tail), len(tail)

    async def send(self, token: str, now_ms: int, call: Packed) -> list[EmitCode]:
        """Run one packed call; one code per item. Raises :class:`FencedOut`, writing
        nothing, when ``token`` no longer leads."""
        keys, fixed = self._wire
        args = [token.encode(), fixed[0], str(now_ms).encode(), *fixed[1:], call.blob,
                _LISTED if call.ahead else _NONE]  # fmt: skip
        result = await run(self.r, "schedule_emit", keys, args)
        if result == FENCED:
            raise FencedOut(f"token {token} no longer holds the lease")
        if call.ahead:
            result, self.ahead = result[0], parse(result[1])
        return [_BY_VALUE[code] for code in result]

    @cached_property
    def _wire(self) -> tuple[list[bytes], list[bytes]]:
        """The call's keys and constant arguments, as bytes once (the client passes
        bytes through as they are)."""
        k = self.keys
        keys = [k.scheduler_leader, k.schedule_next, k.schedule_slots, k.schedule_retries]
        fixed = [FIRED_TTL_MS, self.decisions_kept, TaskDue.TYPE, SCHEMA_VERSION]
        return [key.encode() for key in keys], [str(a).encode() for a in fixed]

    def take_ahead(self) -> Ahead | None:
        """What the last lookahead said is due next, once (None: none since)."""
        ahead, self.ahead = self.ahead, None
        return ahead

    def counters(self) -> dict[str, Any]:
        """Where the script counts decisions and fire lateness (:mod:`~shared.contract.tallies`)."""
        return {"tally": self.keys.decision_tally, "lateness": self.keys.lateness}

    def item_map(self, item: Emission) -> dict[str, Any]:
        """The script's view of one emission: every field it is sent, by name (its
        :data:`~services.scheduler.itemwire.PROFILE_FIELDS` travel as its profile, the
        rest as its :data:`~services.scheduler.itemwire.ITEM_FIELDS`; its keys the script
        makes from the task)."""
        due, k = item.due, self.keys
        it: dict[str, Any] = {
            "stream": k.due(due.priority), "task": due.task, "slot": item.slot,
            "body": item.body or encode(due)["body"], "overlap": item.overlap,
            "lease_ms": item.lease_ms,
        }  # fmt: skip
        if due.run_id != f"{due.task}:{item.slot}":
            it["run_id"] = due.run_id
        if due.trigger == "schedule":
            it["due_ms"] = int(due.scheduled_for * 1000)  # for the fire-lateness histogram
        if due.max_instances:
            it["max_instances"] = due.max_instances
        if item.window:
            it["window_running"], it["window_max"] = k.window_running(item.window), item.window_max
        if item.then is not None:
            it["move"], it["move_slot"] = move_fields(item.then)
        if item.defer_at is not None:
            it["defer_at"] = repr(item.defer_at)
        if item.report_busy:
            it["report_busy"] = True
        if item.ack is not None:
            it["ack_stream"], it["ack_id"] = item.ack
        return it


def _prefix(key: str, after: str = "") -> str:
    """What comes before the task in ``key`` (made with the task :data:`_MARK`): the
    script makes the key as that prefix, the task and ``after``."""
    before, rest = key.split(_MARK)
    if rest != after:
        raise ValueError(f"{key!r} is not prefix + task + {after!r}")
    return before


_MARK: Final = "\x00task\x00"


def move_map(move: Move) -> dict[str, Any]:
    """The script's view of a schedule move."""
    if move.score == END:
        return {"task": move.task, "ends": True}
    return {"task": move.task, "score": move.score, "slot": move.slot or None}


def move_fields(move: Move) -> Then:
    """An emission's ``move`` and ``move_slot`` (the move of the item's own task)."""
    if move.score == END:
        return iw.ENDS, None
    return move.score, move.slot or None


NO_HEAD: Final = pairs(RAW, {"moves": [], "decisions": []})
"""The moves and decisions of every call of a batch but the first: none."""
ITEMS: Final = RAW.pack("items")
COUNT: Final = RAW.pack("count")
PROFILES: Final = RAW.pack("profiles")
_LISTED, _NONE = str(LISTED).encode(), b"0"
_BY_VALUE: Final = {int(code): code for code in EmitCode}


class WritePipeline:
    """Sends packed calls in order with at most one in flight, so the caller can do
    other work (plan, pack) while Redis runs the previous call.

    ``async with WritePipeline(emitter, token, now_ms) as pipe: await pipe.send(call)``;
    ``codes`` holds every item's code once the block has exited. An error (e.g.
    :class:`FencedOut`) propagates from the next ``send`` or from the exit.
    """

    def __init__(self, emitter: Emitter, token: str, now_ms: Callable[[], int]) -> None:
        self.codes: list[EmitCode] = []
        self._emitter, self._token, self._now_ms = emitter, token, now_ms
        self._flight: asyncio.Task[list[EmitCode]] | None = None

    async def __aenter__(self) -> WritePipeline:
        return self

    async def __aexit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            await self.drain()
        elif self._flight is not None:
            self._flight.cancel()

    async def send(self, call: Packed) -> None:
        """Wait for the call in flight, then start ``call``."""
        await self.drain()
        self._flight = asyncio.create_task(self._emitter.send(self._token, self._now_ms(), call))
        await asyncio.sleep(0)  # its first step puts the call on the wire

    async def drain(self) -> None:
        """Wait for the call in flight and collect its codes."""
        if self._flight is not None:
            flight, self._flight = self._flight, None
            self.codes += await flight
