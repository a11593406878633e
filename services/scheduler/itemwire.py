"""How one item of the emission script's batch is encoded (pure).

An item's values travel in one binary string per call, read in Lua by one
``struct.unpack`` per item (``load_item`` in schedule_emit.lua): no table and no string
per field name are made while decoding, which a msgpack map per item cost (about a
sixth of Redis' time per item in a burst). What many items share (due stream, limits)
travels once per call as a profile (a msgpack map), and the item's keys are made in Lua
from the task and prefixes that ``Keys`` gives.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Final

import msgpack

RAW: Final = msgpack.Packer(use_bin_type=False)
"""Packs the script's batch: Lua cmsgpack knows no bin type, bodies travel as raw
strings (bytes kept)."""
ITEM_FIELDS: Final = ("profile", "task", "slot", "body", "due_ms", "move", "move_slot",
                      "defer_at", "run_id", "ack_stream", "ack_id")  # fmt: skip
"""An item's fields, in order. ``profile`` indexes the call's profiles; ``due_ms`` is
the fire time for the lateness histogram (0: none); ``move`` is the task's next score
after the emission, ``-`` when its schedule ends ("" leaves it alone); ``run_id`` is
"" when it is ``task:slot``; "" is an absent text field."""
ITEM_FORMAT: Final = ">HHc0Hc0I4c0dHc0Hc0Hc0Hc0Hc0Hc0"
"""The Lua ``struct`` format of one item: the profile index, then each text field as
its length (2 bytes; 4 for the body) and its bytes, ``due_ms`` as a double."""
PROFILE_FIELDS: Final = ("stream", "overlap", "lease_ms", "max_instances", "window_running",
                         "window_max", "report_busy")  # fmt: skip
"""What the items of a task (and many tasks) share: sent once per call as a map."""
ENDS: Final = "-"
"""``move`` when the task's schedule ends."""
_DOUBLE: Final = struct.Struct(">d")
_INDEX: Final = struct.Struct(">H")
NONE: Final = b"\x00\x00"
"""An absent (empty) text field."""


def text(value: str | bytes | None) -> bytes:
    """A text field: its length on 2 bytes, then its bytes (absent: empty)."""
    if value is None:
        return NONE
    data = value.encode() if isinstance(value, str) else value
    if len(data) > 0xFFFF:
        raise ValueError(f"item field of {len(data)} bytes: at most 65,535")
    return len(data).to_bytes(2, "big") + data


def body(data: bytes) -> bytes:
    """The body field: its length on 4 bytes, then its bytes."""
    return len(data).to_bytes(4, "big") + data


def due_ms(value: float | None) -> bytes:
    """The ``due_ms`` field (0: the item adds nothing to the lateness histogram)."""
    return _DOUBLE.pack(value or 0)


def index(n: int) -> bytes:
    """The ``profile`` field: the profile's place (from 1) among the call's profiles."""
    return _INDEX.pack(n)


def values(item: Mapping[str, Any]) -> bytes:
    """``item``'s fields after ``profile`` (as ``Emitter.item_map`` names them), encoded."""
    return b"".join([
        text(item["task"]), text(item["slot"]), body(item["body"]), due_ms(item.get("due_ms")),
        text(item.get("move")), text(item.get("move_slot")),
        text(item.get("defer_at")), text(item.get("run_id")), text(item.get("ack_stream")),
        text(item.get("ack_id")),
    ])  # fmt: skip


def profile(item: Mapping[str, Any]) -> bytes:
    """The profile of ``item`` (its :data:`PROFILE_FIELDS` present), encoded as a map;
    the few distinct ones are encoded once."""
    return _profile(tuple(item.get(name) for name in PROFILE_FIELDS))


@lru_cache(maxsize=1024)
def _profile(values: tuple[Any, ...]) -> bytes:
    data: bytes = RAW.pack({n: v for n, v in zip(PROFILE_FIELDS, values, strict=True)
                            if v is not None})  # fmt: skip
    return data
