"""Tallied calls: items once per marker, shared fields summed in the order of the items."""

from __future__ import annotations

import random
from typing import Any

import pytest

from shared.contract.keys import Keys
from shared.contract.tallied import ADD, ADD_FLOAT, EXPIRE, MAX, MIN, SET, TalliedCall
from shared.runtime.redis import Redis

TTL_MS = 60_000


def _item(call: TalliedCall, keys: Keys, n: int, *, fail: bool) -> None:
    """Item ``n``: its own hash, and a shared hash tallied like a task's state."""
    call.item(keys.counter(f"m{n}"), [["HSET", call.key(keys.counter(f"own{n}")), "n", n]])
    streak = (ADD, "streak", 1) if fail else (SET, "streak", 0)
    call.tally(call.key(keys.counter("shared")), ADD, "runs", 1, ADD_FLOAT, "sum", n / 10,
               MAX, "max", n, MIN, "min", n, SET, "last", n, *streak, EXPIRE, "", 3600)  # fmt: skip


async def test_items_apply_once_and_tallies_keep_their_order(r: Redis, keys: Keys) -> None:
    shared = keys.counter("shared")
    await r.hset(shared, mapping={"runs": 10, "max": 4, "min": 2, "streak": 5})
    call = TalliedCall()
    for n, fail in ((1, True), (2, False), (3, True), (1, True), (5, True)):  # 1 repeats
        _item(call, keys, n, fail=fail)
    replies = await call.run(r, TTL_MS)
    assert [applied for applied, _ in replies] == [True, True, True, False, True]
    stored = {k.decode(): v.decode() for k, v in (await r.hgetall(shared)).items()}
    assert stored["runs"] == "14"
    assert float(stored["sum"]) == 1.1  # 0.1 + 0.2 + 0.3 + 0.5
    assert (stored["max"], stored["min"], stored["last"]) == ("5", "1", "5")
    assert stored["streak"] == "2"  # reset by item 2, then items 3 and 5
    assert 0 < await r.ttl(shared) <= 3600
    assert await r.hget(keys.counter("own3"), "n") == b"3"

    again = TalliedCall()
    _item(again, keys, 3, fail=True)  # redelivered: nothing of it applies
    _item(again, keys, 6, fail=True)
    assert [applied for applied, _ in await again.run(r, TTL_MS)] == [False, True]
    stored = {k.decode(): v.decode() for k, v in (await r.hgetall(shared)).items()}
    assert (stored["runs"], stored["streak"], stored["max"]) == ("15", "3", "6")


async def test_a_broken_shared_key_is_reported_with_the_first_item(r: Redis, keys: Keys) -> None:
    await r.set(keys.counter("shared"), "not a hash")
    call = TalliedCall()
    _item(call, keys, 1, fail=False)
    _item(call, keys, 2, fail=True)
    (applied1, refused1), (applied2, refused2) = await call.run(r, TTL_MS)
    assert applied1 and applied2 and not refused2
    assert refused1 and all("WRONGTYPE" in e for e in refused1)
    assert await r.hget(keys.counter("own2"), "n") == b"2"


async def test_the_entries_are_acked_in_the_call_duplicates_too(r: Redis, keys: Keys) -> None:
    stream, group = keys.results, "g"
    await r.xgroup_create(stream, group, id="0", mkstream=True)
    ids = [(await r.xadd(stream, {"n": n})).decode() for n in range(3)]
    await r.xreadgroup(group, "c", {stream: ">"})
    first = TalliedCall()
    _item(first, keys, 1, fail=False)
    first.ack(stream, group, ids[:1])
    assert [applied for applied, _ in await first.run(r, TTL_MS)] == [True]
    again = TalliedCall()
    _item(again, keys, 1, fail=False)  # a redelivery: not applied, still acked
    _item(again, keys, 2, fail=False)
    again.ack(stream, group, ids[1:])
    assert [applied for applied, _ in await again.run(r, TTL_MS)] == [False, True]
    assert (await r.xpending(stream, group))["pending"] == 0


async def _shared_after(r: Redis, keys: Keys, calls: list[list[tuple[int, bool]]]) -> list[Any]:
    """Each call's replies and the shared hash after all of them."""
    replies = []
    for items in calls:
        call = TalliedCall()
        for n, fail in items:
            _item(call, keys, n, fail=fail)
        replies.append([applied for applied, _ in await call.run(r, TTL_MS)])
    shared = await r.hgetall(keys.counter("shared"))
    return [replies, {k.decode(): float(v) for k, v in shared.items()}]


async def test_a_redelivered_item_leaves_the_rest_of_its_call_as_if_sent_alone(
    r: Redis, keys: Keys
) -> None:
    """A call whose markers are all new is summed before it is sent; one with a
    redelivered item is refused whole (the markers it had set are taken back) and sent
    again item by item: both end with the same counters as the items applied once."""
    items = [(1, True), (2, False), (3, True), (4, True), (5, False), (6, True)]
    split = await _shared_after(r, keys, [items[:2], [items[1], *items[2:]]])
    other = Keys(f"{keys.ns}x")
    whole = await _shared_after(r, other, [items])
    assert split[0] == [[True, True], [False, True, True, True, True]]
    assert whole[0] == [[True] * 6]
    assert split[1] == pytest.approx(whole[1])  # sums added in another grouping
    assert whole[1]["runs"] == 6 and whole[1]["streak"] == 1 and whole[1]["max"] == 6
    assert await r.hget(keys.counter("own3"), "n") == b"3"


def _random_items(call: TalliedCall, keys: Keys, rng: random.Random, first: int) -> None:
    """Ten items with random tally ops on two shared keys (every op kind, fields reused)."""
    shared = [call.key(keys.counter("s1")), call.key(keys.counter("s2"))]
    for n in range(first, first + 10):
        call.item(keys.counter(f"m{n}"), [["HSET", call.key(keys.counter(f"own{n}")), "n", n]])
        for key in rng.sample(shared, rng.randint(1, 2)):
            ops: list[Any] = []
            for _ in range(rng.randint(1, 6)):
                op, name = rng.choice((ADD, ADD_FLOAT, SET, MAX, MIN, EXPIRE)), rng.choice("abc")
                value = rng.randint(-5, 50) if op in (ADD, SET) else round(rng.uniform(-9, 9), 3)
                ops += [op, f"{op}{name}" if op in (MAX, MIN) else name,
                        rng.randint(60, 600) if op == EXPIRE else value]  # fmt: skip
            call.tally(key, *ops)


@pytest.mark.parametrize("seed", range(12))
async def test_summed_tallies_write_what_the_script_sums_item_by_item(
    r: Redis, keys: Keys, seed: int
) -> None:
    """The same random items: summed before the call, or sent one by one because the call
    also holds an item recorded before; the shared hashes end the same."""
    stored = []
    for ns, redelivered in ((f"{keys.ns}a", False), (f"{keys.ns}b", True)):
        k, call = Keys(ns), TalliedCall()
        if redelivered:
            await r.set(k.counter("m0"), "1")
            call.item(k.counter("m0"), [])
        _random_items(call, k, random.Random(seed), 1)
        replies = [applied for applied, _ in await call.run(r, TTL_MS)]
        assert replies == [False] * redelivered + [True] * 10
        hashes = [await r.hgetall(k.counter(name)) for name in ("s1", "s2")]
        stored.append([{f.decode(): float(v) for f, v in h.items()} for h in hashes])
    for summed, one_by_one in zip(stored[0], stored[1], strict=True):
        assert summed == pytest.approx(one_by_one)
