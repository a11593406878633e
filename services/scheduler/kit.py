"""A task's scheduled fires, encoded from parts made once per definition (pure).

Every scheduled fire of a task carries the same definition snapshot, keys and limits;
only the slot, the times and the schedule after it change. A :class:`Kit` holds the
constant parts already in msgpack, so a fire is a few small packs and a join instead of
a ``TaskDue``, its body map and the script's item built and encoded from scratch.
The bytes are exactly those of the general path (``make_due`` → ``encode`` →
``Emitter.item_map``): the tests compare them.
"""

from __future__ import annotations

import marshal
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import fields
from typing import Any, Final, NamedTuple

import msgpack

from services.scheduler import itemwire as iw
from services.scheduler.itemwire import RAW as RAW
from services.scheduler.occurrence import make_due, run_id
from shared.config.models import TaskConfig
from shared.contract.codec import MAX_BODY_BYTES, EventEncodeError, event_body
from shared.contract.events import TaskDue
from shared.contract.keys import Keys
from shared.timing.windows import Window

VARYING: Final = ("run_id", "scheduled_for", "emitted_at", "deadline")
"""The ``task.due`` fields that differ between two scheduled fires of one task."""
_BODY_ORDER: Final = tuple(f.name for f in fields(TaskDue))
_BODY_PACK: Final = msgpack.Packer(use_bin_type=True)  # as shared.contract.codec.pack
_BODY_KEYS: Final = {name: _BODY_PACK.pack(name) for name in VARYING}
Then = tuple[str, str | None]
"""A schedule after a fire, as the item's ``move`` and ``move_slot``: (next score, or
``itemwire.ENDS`` when the schedule ends; the new pending slot, or None to keep it)."""
_NO_REQUEST: Final = iw.NONE * 3  # run_id (task:slot), ack_stream, ack_id


class Fired(NamedTuple):
    """One scheduled fire, already encoded as the emission script's item: its profile
    (a map) and its fields after ``profile`` (``itemwire.values``)."""

    profile: bytes
    packed: bytes
    scheduled_for: float


class Kit(NamedTuple):
    """The parts of ``task``'s scheduled fires that never change between fires (see
    :func:`make`): bytes, text and a flag only, so that it can be kept marshalled."""

    task: str
    body_parts: tuple[tuple[bytes, str], ...]
    body_tail: bytes
    body_headers: tuple[bytes, bytes]
    profile: bytes
    """The task's profile (:data:`PROFILE_FIELDS`), encoded."""
    head: bytes
    """The task's name, encoded (the item's first value after its profile)."""

    def fire(
        self, slot_ms: int, at: float, emitted_at: float, *, deadline: float | None,
        move: Then | None = None, defer_at: float | None = None,
    ) -> Fired:  # fmt: skip
        """Slot ``slot_ms`` due at ``at`` (its fire time), sent at ``emitted_at``;
        ``move`` is the schedule afterwards (``emitter.move_fields``), ``defer_at`` where
        it goes when the run is deferred. Raises ``EventEncodeError`` for a body over the
        limit."""
        slot = str(slot_ms)
        run = run_id(self.task, slot)
        score, next_slot = move if move is not None else (None, None)
        parts = [self.head, iw.text(slot), iw.body(self.body(run, at, emitted_at, deadline)),
                 iw.due_ms(int(at * 1000)), iw.text(score), iw.text(next_slot),
                 iw.text(None if defer_at is None else repr(defer_at)), _NO_REQUEST]  # fmt: skip
        return Fired(self.profile, b"".join(parts), at)

    def body(self, run: str, at: float, emitted_at: float, deadline: float | None) -> bytes:
        """The ``task.due`` body (msgpack) of one scheduled fire."""
        values = {"run_id": run, "scheduled_for": at, "emitted_at": emitted_at,
                  "deadline": deadline}  # fmt: skip
        pack = _BODY_PACK.pack
        parts = [self.body_headers[deadline is not None]]
        for constant, name in self.body_parts:
            parts.append(constant)
            value = values[name]
            if value is not None:
                parts += (_BODY_KEYS[name], pack(value))
        parts.append(self.body_tail)
        data = b"".join(parts)
        if len(data) > MAX_BODY_BYTES:
            raise EventEncodeError(f"{TaskDue.TYPE} body is {len(data)} bytes, above the "
                                   f"{MAX_BODY_BYTES}-byte limit")  # fmt: skip
        return data


def make(name: str, task: TaskConfig, keys: Keys, *, window_max: int, lease_ms: int) -> Kit:
    """``name``'s kit for definition ``task``: its body as ``make_due`` builds it, its
    profile as ``Emitter.item_map`` does."""
    template = make_due(name, task, slot="0", trigger="schedule", scheduled_for=0.0,
                        emitted_at=0.0)  # fmt: skip
    body = event_body(template)
    parts, tail = _body_parts(body)
    fixed = sum(1 for n in body if n not in VARYING)
    profile: dict[str, Any] = {"stream": keys.due(template.priority),
                               "overlap": task.overlap, "lease_ms": lease_ms}  # fmt: skip
    if template.max_instances:
        profile["max_instances"] = template.max_instances
    if task.window and window_max:
        profile["window_running"] = keys.window_running(task.window)
        profile["window_max"] = window_max
    return Kit(
        task=name, body_parts=parts,
        body_tail=tail, body_headers=(map_header(_BODY_PACK, fixed + 3),
                                      map_header(_BODY_PACK, fixed + 4)),
        profile=iw.profile(profile), head=iw.text(name),
    )  # fmt: skip


def _body_parts(body: dict[str, Any]) -> tuple[tuple[tuple[bytes, str], ...], bytes]:
    """The body in field order: each varying field with the constant pairs (encoded)
    before it, and the constant pairs after the last one."""
    parts: list[tuple[bytes, str]] = []
    run: dict[str, Any] = {}
    for name in _BODY_ORDER:
        if name in VARYING:
            parts.append((pairs(_BODY_PACK, run), name))
            run = {}
        elif name in body:
            run[name] = body[name]
    return tuple(parts), pairs(_BODY_PACK, run)


def pairs(packer: msgpack.Packer, mapping: dict[str, Any]) -> bytes:
    """``mapping`` as msgpack key/value pairs without a map header (to be joined)."""
    data: bytes = packer.pack(mapping)
    return data[_MAP_HEADER_BYTES[data[0]] if data[0] in _MAP_HEADER_BYTES else 1 :]


_MAP_HEADER_BYTES: Final = {0xDE: 3, 0xDF: 5}
"""Header sizes of map16 and map32; a fixmap's header is its first byte."""


def map_header(packer: msgpack.Packer, size: int) -> bytes:
    """The header of a msgpack map of ``size`` pairs."""
    data: bytes = packer.pack_map_header(size)
    return data


def run_lease_ms(timeout_s: float) -> int:
    """How long an emitted run counts as running when no result arrives (lost executor):
    twice its timeout plus a minute for queueing."""
    return int((2 * timeout_s + 60) * 1000)


def build(name: str, task: TaskConfig, keys: Keys, windows: Mapping[str, Window]) -> Kit:
    """``name``'s kit; a window counts runs only when it caps them (``max_concurrent``)."""
    window = windows.get(task.window) if task.window else None
    cap = window.max_concurrent if window is not None and window.max_concurrent else 0
    return make(name, task, keys, window_max=cap, lease_ms=run_lease_ms(task.timeout))


class Kits:
    """Kits of the most recently fired tasks (least recently used dropped first), each
    kept as one ``marshal``-ed bytes object (about 0.6 KB).

    Kept as objects they would be tuples the cyclic GC tracks; a cache that drops one
    kit for each it adds frees as many tracked objects as it allocates, so the young
    generation's counter never reaches its threshold while the new kits pile up in it,
    and the next collection walks tens of thousands of them (20 ms in a 10,000-task
    burst). Bytes are not tracked at all; a kit is rebuilt from them in about 1 µs.
    """

    def __init__(self, kept: int) -> None:
        self._kits: OrderedDict[str, bytes] = OrderedDict()
        self._kept = kept

    def get(self, name: str) -> Kit | None:
        """``name``'s kit, if kept."""
        kept = self._kits.get(name)
        if kept is None:
            return None
        self._kits.move_to_end(name)
        return Kit._make(marshal.loads(kept))  # noqa: S302 (bytes this object marshalled)

    def put(self, kit: Kit) -> Kit:
        """Keep ``kit``; returns it."""
        self._kits[kit.task] = marshal.dumps(tuple(kit))
        if len(self._kits) > self._kept:
            self._kits.popitem(last=False)
        return kit

    def drop(self, name: str) -> None:
        """Forget ``name``'s kit (its definition changed)."""
        self._kits.pop(name, None)
