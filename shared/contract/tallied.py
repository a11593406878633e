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

from shared.contract.scripts import run

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

    async def run(self, r: aioredis.Redis, ttl_ms: int) -> list[tuple[bool, list[str]]]:
        """Apply every item whose marker is new (markers kept ``ttl_ms``); one
        ``(applied, refused writes)`` per item, in order. Writes Redis refused (e.g. a key
        of the wrong type) come back with the reason for the caller to log (a tallied
        key's with the first applied item that tallied it)."""
        if not self._items and not self._ack:
            return []
        # Lua cmsgpack knows no bin type: pack bytes and text alike as raw strings.
        body = msgpack.packb(self._items, use_bin_type=False)
        args = [ttl_ms, body]
        if self._ack:
            args.append(msgpack.packb(self._ack, use_bin_type=False))
        replies = await run(r, "tallied", list(self._keys), args)
        return [(bool(reply[0]), [_text(e) for e in reply[1:]]) for reply in replies]


def _text(error: Any) -> str:
    return error.decode() if isinstance(error, bytes) else str(error)
