"""A write whose reply is lost (Redis ran it, the connection broke before the answer)
never becomes two: a run request answers 503 ``maybe_written`` with one trigger on the
stream, and a dead-letter requeue retried by the client writes its entry once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.contract.codec import decode, encode
from shared.contract.events import TriggerRun
from shared.contract.keys import SCHEDULER_GROUP, Keys
from shared.contract.requeue import requeue
from shared.runtime.redis import Entry, MaybeWritten, Redis, client, dead_letter, text, xadd_once
from tests.api.support import running_api
from tests.support.proxy import FaultProxy

CONFIG = "tasks:\n  hc: {handler: system_health_check}\n"


@pytest.fixture
async def proxy(redis_url: str) -> AsyncIterator[FaultProxy]:
    found = await FaultProxy.before(redis_url).start()
    yield found
    await found.stop()


@pytest.fixture
async def via(proxy: FaultProxy) -> AsyncIterator[Redis]:
    """A default (retrying) client whose connections go through ``proxy``."""
    conn = client(proxy.url)
    yield conn
    await conn.aclose()


async def _dead(r: Redis, keys: Keys) -> str:
    entry_id = text(await r.xadd(keys.triggers, encode(TriggerRun(task="hc"))))  # type: ignore[arg-type]
    stored = (await r.xrange(keys.triggers))[0][1]
    await r.xgroup_create(keys.triggers, SCHEDULER_GROUP, id="0")
    await r.xreadgroup(SCHEDULER_GROUP, "test", {keys.triggers: ">"})  # pending, as read
    await dead_letter(r, keys, Entry(keys.triggers, entry_id, stored), SCHEDULER_GROUP,
                      "unknown task 'hc'", reader="test")  # fmt: skip
    await r.xdel(keys.triggers, entry_id)
    return text((await r.xrange(keys.dead))[0][0])


async def test_xadd_once_says_maybe_and_writes_once(
    via: Redis, r: Redis, keys: Keys, proxy: FaultProxy
) -> None:
    proxy.cut_reply_to(b"XADD")
    await via.xadd(keys.triggers, {"n": "0"})  # the hazard: the client retried the XADD
    assert await r.xlen(keys.triggers) == 2
    proxy.cut_reply_to(b"XADD")
    with pytest.raises(MaybeWritten, match="may or may not have been written"):
        await xadd_once(via, keys.triggers, {"n": "1"})
    assert await r.xlen(keys.triggers) == 3
    assert text(await xadd_once(via, keys.triggers, {"n": "2"})).count("-") == 1  # healed
    assert await r.xlen(keys.triggers) == 4


async def test_a_run_request_whose_reply_is_lost_is_a_503_and_one_trigger(
    via: Redis, r: Redis, keys: Keys, proxy: FaultProxy
) -> None:
    async with running_api(via, keys, CONFIG) as api:
        proxy.cut_reply_to(b"XADD")
        status, body, headers = await api.call("POST", "/api/v1/runs", json={"task": "hc"})
        assert (status, body["error"]["code"]) == (503, "maybe_written")
        assert "may or may not have been recorded" in body["error"]["message"]
        assert "Retry-After" in headers
        [(_, fields)] = await r.xrange(keys.triggers)
        assert decode(fields).task == "hc"  # type: ignore[union-attr]
        status, body, _ = await api.call("POST", "/api/v1/runs", json={"task": "hc"})
        assert status == 202
        assert await r.xlen(keys.triggers) == 2


async def test_a_requeue_retried_after_a_lost_reply_writes_one_entry(
    via: Redis, r: Redis, keys: Keys, proxy: FaultProxy
) -> None:
    dead_id = await _dead(r, keys)
    async with running_api(via, keys, CONFIG) as api:
        proxy.cut_reply_to(b"EVALSHA")  # the client retries the script after the cut
        status, body, _ = await api.call("POST", f"/api/v1/dead-letters/{dead_id}/requeue")
        assert status == 200
        [(new_id, fields)] = await r.xrange(keys.triggers)
        assert (text(new_id), decode(fields).task) == (body["new_id"], "hc")  # type: ignore[union-attr]
        assert await r.xlen(keys.dead) == 0
        status, body, _ = await api.call("POST", f"/api/v1/dead-letters/{dead_id}/requeue")
        assert status == 404  # once requeued, the dead letter is gone


async def test_requeue_twice_returns_the_same_entry(r: Redis, keys: Keys) -> None:
    dead_id = await _dead(r, keys)
    original = {b"type": b"trigger.run", b"v": b"1"}
    first = await requeue(r, keys, dead_id, keys.triggers, original)
    assert first is not None
    assert await requeue(r, keys, dead_id, keys.triggers, original) == first
    assert await r.xlen(keys.triggers) == 1
    assert 0 < await r.pttl(keys.requeued(dead_id)) <= 24 * 3600 * 1000
    assert await requeue(r, keys, "1-1", keys.triggers, original) is None
