"""Items written once per marker, their shared counters summed over one script call.

A :class:`TalliedCall` gathers items for ``tallied.lua``. Each item has a marker, its own
writes (run as given: a hash of its own, a stream entry) and tallies: updates of hash
fields that many items share (daily counters, lifetime totals, a task's state). The
script sums the tallies of the items it applies and writes each key and field once, so
a batch of 200 results costs a few commands per result plus a few per shared key, not
thirty per result.

An item applies only if its marker is new (``SET NX PX``), in the same script as its
writes and tallies: a redelivered item is skipped (also a repeat within the call), and a
crash leaves all of a call or none of it. Tallies keep the order of the items: a set
followed by adds gives the set value plus the adds; a set after adds replaces them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import msgpack
import redis.asyncio as aioredis

from shared.contract.scripts import ScriptClient, run

ADD: Final = "i"
"""Tally op: add an integer (``HINCRBY``)."""
ADD_FLOAT: Final = "f"
"""Tally op: add a float (``HINCRBYFLOAT``)."""
SET: Final = "s"
"""Tally op: set the field (the last applied item's value wins; later adds add to it)."""
MAX: Final = "M"
"""Tally op: keep the larger of the stored and the given number."""
MIN: Final = "m"
"""Tally op: keep the smaller of the stored and the given number."""
EXPIRE: Final = "x"
"""Tally op: ``EXPIRE`` the key after the value (seconds) once the call wrote it; the
field is ignored."""


class TalliedCall:
    """Items for one ``tallied.lua`` call. Keys are named by :meth:`key` indexes; tallies
    belong to the item queued last (:meth:`item`)."""

    def __init__(self) -> None:
        self._keys: dict[str, int] = {}
        self._items: list[list[Any]] = []
        self._tallies: list[Any] = []
        self._ack: list[Any] = []

    def key(self, name: str) -> int:
        """The index the script knows key ``name`` by (each key is passed once)."""
        index = self._keys.get(name)
        if index is None:
            index = self._keys[name] = len(self._keys) + 1  # Lua counts from 1
        return index

    def item(self, marker: str, writes: Sequence[Sequence[Any]]) -> None:
        """Queue an item: its marker and its own writes as ``[command, key index, *args]``."""
        self._tallies = []
        self._items.append([self.key(marker), writes, self._tallies])

    def tally(self, key: int, *ops: Any) -> None:
        """Tally fields of ``key`` for the last item: ``ops`` are flat ``op, field, value``
        triples (the ops above), applied in order."""
        self._tallies.append([key, *ops])

    def ack(self, stream: str, group: str, entry_ids: Sequence[str]) -> None:
        """XACK ``entry_ids`` of ``stream`` in ``group`` in the same call, once the items
        are applied (duplicates included): the entries the items were read from."""
        self._ack = [self.key(stream), group, *entry_ids] if entry_ids else []

    async def run(
        self, r: aioredis.Redis | ScriptClient, ttl_ms: int
    ) -> list[tuple[bool, list[str]]]:
        """Apply every item whose marker is new (markers kept ``ttl_ms``); one
        ``(applied, refused writes)`` per item, in order. Writes Redis refused (e.g. a key
        of the wrong type) come back with the reason for the caller to log (a tallied
        key's with the first applied item that tallied it).

        The tallies are summed here and the call sent without them when its markers are
        distinct (the script then applies all of its items, or none when one was applied
        before); else, or when the script found one, the items go with their own tallies
        and the script sums those that apply."""
        if not self._items and not self._ack:
            return []
        # Lua cmsgpack knows no bin type: pack bytes and text alike as raw strings.
        ack = msgpack.packb(self._ack, use_bin_type=False) if self._ack else b""
        replies: Any = -1
        if len({item[0] for item in self._items}) == len(self._items):
            items = msgpack.packb([[m, w] for m, w, _ in self._items], use_bin_type=False)
            summed = msgpack.packb(_summed(self._items), use_bin_type=False)
            replies = await run(r, "tallied", list(self._keys), [ttl_ms, items, ack, summed])
        if replies == -1:
            body = msgpack.packb(self._items, use_bin_type=False)
            replies = await run(r, "tallied", list(self._keys), [ttl_ms, body, ack])
        return [(bool(reply[0]), [_text(e) for e in reply[1:]]) for reply in replies]


def _summed(items: list[list[Any]]) -> list[Any]:
    """What ``tallied.lua`` leaves of the items' tallies once summed (all items applied):
    per key, in the order first tallied, the first item that tallied it, its fields in
    order with what their ops left (``add``, ``fadd``, ``set``, ``max``, ``min``) and its
    expiry."""
    sums: dict[int, dict[str, Any]] = {}
    for index, (_, _, tallies) in enumerate(items, 1):
        for key, *ops in tallies:
            total = sums.get(key)
            if total is None:
                total = sums[key] = {"item": index, "names": [], "fields": {}}
            names, fields = total["names"], total["fields"]
            for at in range(0, len(ops), 3):
                op, name, value = ops[at], ops[at + 1], ops[at + 2]
                field = fields.get(name)
                if op == ADD and field is not None and "add" in field:
                    field["add"] += value  # the usual op on a field seen before
                elif op == EXPIRE:
                    total["expire"] = value
                else:
                    if field is None:
                        field = fields[name] = {}
                        names.append(name)
                    _sum(field, op, value)
    return [[key, total] for key, total in sums.items()]


def _sum(field: dict[str, Any], op: str, value: Any) -> None:
    """One op into a field's summary, as ``tally()`` of ``tallied.lua`` does it."""
    if op == ADD:
        field["add"] = field.get("add", 0) + value
    elif op == ADD_FLOAT:
        field["fadd"] = field.get("fadd", 0) + value
    elif op == SET:
        field["set"] = value
        field.pop("add", None)
        field.pop("fadd", None)
    elif op == MAX:
        if "max" not in field or value > field["max"]:
            field["max"] = value
    elif op == MIN and ("min" not in field or value < field["min"]):
        field["min"] = value


def _text(error: Any) -> str:
    return error.decode() if isinstance(error, bytes) else str(error)
