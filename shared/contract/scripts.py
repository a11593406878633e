"""Lua scripts shipped with Watchkeeper, loaded once per client and called by SHA."""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any, Final, Protocol

import msgpack
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from shared.contract.emission import code_table
from shared.contract.tallies import LATENESS_BUCKETS_S, LATENESS_LABELS, decision_field

INCLUDE: Final = re.compile(r"^--#include (\w+)$", re.MULTILINE)
"""A line ``--#include NAME`` stands for the text of ``NAME.lua`` (a library chunk)."""


CONSTANT: Final = re.compile(r"^--#constant (\w+)$", re.MULTILINE)
"""A line ``--#constant NAME`` stands for ``local NAME = <value>``, the value of
:func:`constants` written as a Lua literal: part of the script's text (made once, when
Redis compiles it) instead of an argument decoded on every call."""


@cache
def source(name: str) -> str:
    """Text of ``shared/contract/lua/<name>.lua``, its includes and constants expanded."""
    text = (resources.files("shared.contract") / "lua" / f"{name}.lua").read_text()
    text = INCLUDE.sub(lambda line: source(line.group(1)).rstrip("\n"), text)
    return CONSTANT.sub(lambda line: _constant(line.group(1)), text)


@cache
def constants() -> dict[str, Any]:
    """What scripts may name with ``--#constant``: the emission script's code words
    (:func:`~shared.contract.emission.code_table`, with each code's decision-counter
    field prefix) and the fire-lateness buckets (:mod:`~shared.contract.tallies`)."""
    codes = code_table()
    return {
        "CODES": codes,
        "TALLY_PREFIX": {code: decision_field(w["outcome"], w["cause"], "")
                         for code, w in codes.items()},
        "LATE_BUCKETS": [[round(b * 1000), label]
                         for b, label in zip(LATENESS_BUCKETS_S, LATENESS_LABELS, strict=False)],
        "LATE_INF": LATENESS_LABELS[-1],
    }  # fmt: skip


def _constant(name: str) -> str:
    return f"local {name} = {lua_literal(constants()[name])}"


_PLAIN: Final = frozenset(string.ascii_letters + string.digits + " _-|:.,()")


def lua_literal(value: Any) -> str:
    """``value`` (text, whole numbers, lists and maps of them) as a Lua literal."""
    if isinstance(value, str):
        return '"' + "".join(c if c in _PLAIN else "".join(f"\\{b}" for b in c.encode())
                             for c in value) + '"'  # fmt: skip
    if isinstance(value, bool) or not isinstance(value, int | list | dict):
        raise TypeError(f"no Lua literal for {value!r}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(v) for v in value) + "}"
    return "{" + ", ".join(f"[{lua_literal(k)}] = {lua_literal(v)}" for k, v in value.items()) + "}"


@cache
def sha(name: str) -> str:
    """The SHA1 Redis knows script ``name`` by."""
    return hashlib.sha1(source(name).encode(), usedforsecurity=False).hexdigest()


def script(r: aioredis.Redis, name: str) -> Any:
    """A redis-py Script object (EVALSHA with automatic reload) for ``name``."""
    return r.register_script(source(name))


class ScriptClient(Protocol):
    """What :func:`run` needs of a client (redis-py's, or a :class:`~shared.runtime.lane.Lane`)."""

    async def evalsha(self, sha: str, numkeys: int, *args: Any) -> Any: ...

    async def script_load(self, source: str) -> Any: ...


async def run(
    r: aioredis.Redis | ScriptClient, name: str, keys: Sequence[Any], args: Sequence[Any]
) -> Any:
    """Run script ``name`` by its SHA, loading it first when Redis does not know it
    (what :func:`script` objects do, without building one per call: hot paths)."""
    try:
        return await r.evalsha(sha(name), len(keys), *keys, *args)
    except NoScriptError:
        await r.script_load(source(name))
        return await r.evalsha(sha(name), len(keys), *keys, *args)


class GuardedBatch:
    """Writes applied at most once per marker (idempotent consumers).

    ``add("HSET", key, field, value)`` queues a command; ``apply`` runs them all in one
    script call if ``marker`` was not set before, and reports whether it did;
    :func:`apply_all` does the same for many batches in one call.
    """

    def __init__(self) -> None:
        self.ops: list[tuple[str, str, tuple[Any, ...]]] = []

    def add(self, command: str, key: str, *args: Any) -> None:
        """Queue ``command key *args`` (values as str/bytes/numbers)."""
        self.ops.append((command, key, args))

    async def apply(self, r: aioredis.Redis, marker: str, ttl_ms: int) -> tuple[bool, list[str]]:
        """Run the batch unless ``marker`` exists: (applied, refused writes).

        Writes that Redis refused (e.g. a key of the wrong type) come back with the
        reason for the caller to log; the others are kept, and none is applied twice.
        """
        return (await apply_all(r, [(marker, self)], ttl_ms))[0]


async def apply_all(
    r: aioredis.Redis, batches: Sequence[tuple[str, GuardedBatch]], ttl_ms: int
) -> list[tuple[bool, list[str]]]:
    """Run each ``(marker, batch)`` unless its marker exists, all in one script call, in
    order (a marker repeated in ``batches`` applies once); one (applied, refused writes)
    per batch, as :meth:`GuardedBatch.apply`."""
    if not batches:
        return []
    index: dict[str, int] = {}

    def at(key: str) -> int:
        return index.setdefault(key, len(index) + 1)  # Lua counts from 1

    packed = [[at(marker), [[cmd, at(key), *args] for cmd, key, args in batch.ops]]
              for marker, batch in batches]  # fmt: skip
    # Lua cmsgpack knows no bin type: pack bytes and text alike as raw strings.
    body = msgpack.packb(packed, use_bin_type=False)
    replies = await script(r, "guarded")(keys=list(index), args=[ttl_ms, body])
    return [(bool(reply[0]), [e.decode() if isinstance(e, bytes) else str(e) for e in reply[1:]])
            for reply in replies]  # fmt: skip
