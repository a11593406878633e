"""``cache_cleanup`` on a real Redis: exactly the stale and orphaned keys go, nothing else."""

from __future__ import annotations

import uuid

import pytest
from structlog.testing import capture_logs

from services.executor.handlers.base import ParamsError
from services.executor.handlers.redis_glob import glob_regex, may_match_prefix, reference_for
from shared.contract.keys import Keys
from shared.runtime.redis import Redis
from tests.executor.handlers.support import make_ctx, run_handler

IDLE_S = 7200


@pytest.fixture
def p() -> str:
    """A key prefix no other test uses (the test server is shared)."""
    return f"c{uuid.uuid4().hex[:8]}"


async def _put(r: Redis, key: str, value: str, *, idle_s: int = 0, ttl_s: int = 0) -> None:
    """Create ``key`` as if last touched ``idle_s`` ago (RESTORE ... IDLETIME, no sleeping)."""
    await r.set("scratch:" + key, value)
    dumped = await r.dump("scratch:" + key)
    await r.delete("scratch:" + key)
    await r.execute_command("RESTORE", key, ttl_s * 1000, dumped, "REPLACE", "IDLETIME", idle_s)


async def _existing(r: Redis, pattern: str) -> set[str]:
    return {k.decode() async for k in r.scan_iter(match=pattern)}


async def test_idle_rule_removes_only_old_keys_without_ttl(r: Redis, keys: Keys, p: str) -> None:
    await _put(r, f"{p}:cache:old", "x" * 500, idle_s=IDLE_S)
    await _put(r, f"{p}:cache:fresh", "x", idle_s=0)
    await _put(r, f"{p}:cache:old-with-ttl", "x", idle_s=IDLE_S, ttl_s=3600)
    await _put(r, f"{p}:other:old", "x", idle_s=IDLE_S)
    ctx = make_ctx(redis=r, keys=keys)
    outcome = await run_handler(
        "cache_cleanup", ctx, {"rules": [{"pattern": f"{p}:cache:*", "older_than": "1h"}]}
    )
    assert await _existing(r, f"{p}:*") == {
        f"{p}:cache:fresh", f"{p}:cache:old-with-ttl", f"{p}:other:old",
    }  # fmt: skip
    assert outcome.metrics["keys_removed"] == 1
    assert outcome.metrics["keys_scanned"] == 3
    assert outcome.metrics["bytes_freed"] >= 500  # MEMORY USAGE of the removed value
    assert [k["key"] for k in outcome.details["keys"]] == [f"{p}:cache:old"]
    assert [s["name"] for s in ctx.record()["steps"]] == ["scan", "measure", "delete"]


async def test_counters_with_ttl_are_cleared_when_asked(r: Redis, keys: Keys, p: str) -> None:
    for n in range(30):
        await _put(r, f"{p}:ratelimit:acct{n}", "7", ttl_s=600)
    await _put(r, f"{p}:limits:config", "keep")
    params = {"rules": [{"pattern": f"{p}:ratelimit:*", "only_without_ttl": False}],
              "batch_size": 7}  # fmt: skip
    ctx = make_ctx(redis=r, keys=keys)
    outcome = await run_handler("cache_cleanup", ctx, params)
    assert await _existing(r, f"{p}:*") == {f"{p}:limits:config"}
    assert outcome.metrics["keys_removed"] == 30
    delete = next(s for s in ctx.record()["steps"] if s["name"] == "delete")
    assert delete["counts"] == {"batches": 5, "keys": 30}


async def test_orphans_go_when_their_reference_is_gone(r: Redis, keys: Keys, p: str) -> None:
    await _put(r, f"{p}:user:1", "alice")
    await _put(r, f"{p}:session:1", "s1")
    await _put(r, f"{p}:session:2", "s2")  # user 2 no longer exists
    await _put(r, f"{p}:session:3:meta", "m")  # refers to user "3:meta": gone too
    params = {"orphans": [{"pattern": f"{p}:session:*", "reference": f"{p}:user:{{1}}"}]}
    outcome = await run_handler("cache_cleanup", make_ctx(redis=r, keys=keys), params)
    assert await _existing(r, f"{p}:*") == {f"{p}:user:1", f"{p}:session:1"}
    assert outcome.metrics["keys_removed"] == 2


async def test_dry_run_lists_and_removes_nothing(r: Redis, keys: Keys, p: str) -> None:
    await _put(r, f"{p}:cache:a", "x", idle_s=IDLE_S)
    await _put(r, f"{p}:cache:b", "x", idle_s=IDLE_S)
    params = {"rules": [{"pattern": f"{p}:cache:*", "older_than": "1h"}], "dry_run": True}
    outcome = await run_handler("cache_cleanup", make_ctx(redis=r, keys=keys), params)
    assert await _existing(r, f"{p}:*") == {f"{p}:cache:a", f"{p}:cache:b"}
    assert sorted(k["key"] for k in outcome.details["keys"]) == [f"{p}:cache:a", f"{p}:cache:b"]
    assert outcome.metrics["keys_removed"] == 0
    assert outcome.metrics["bytes_planned"] > 0


@pytest.mark.parametrize("pattern", ["*", "{ns}:*", "{ns}:result:*", "?ns*", "[a-z]*", "{ns}"])
async def test_patterns_reaching_the_namespace_are_refused(
    r: Redis, keys: Keys, pattern: str
) -> None:
    await r.set(keys.ns + ":result:x", "precious")
    params = {"rules": [{"pattern": pattern.replace("{ns}", keys.ns)}]}
    with pytest.raises(ParamsError, match=r"params\.rules\.0\.pattern: .*allow_namespace"):
        await run_handler("cache_cleanup", make_ctx(redis=r, keys=keys), params)
    assert await r.get(keys.ns + ":result:x") == b"precious"


async def test_allowed_broad_pattern_still_reaches_only_what_it_matches(
    r: Redis, keys: Keys, p: str
) -> None:
    await _put(r, f"{keys.ns}:tmp:1", "x", idle_s=IDLE_S)
    await _put(r, f"{keys.ns}:result:1", "keep")
    params = {"rules": [{"pattern": f"{keys.ns}:tmp:*"}], "allow_namespace": True}
    outcome = await run_handler("cache_cleanup", make_ctx(redis=r, keys=keys), params)
    assert await _existing(r, f"{keys.ns}:*") == {f"{keys.ns}:result:1"}
    assert outcome.metrics["keys_removed"] == 1


async def test_another_redis_by_url_and_its_password_stays_out(
    redis_url: str, r: Redis, keys: Keys, p: str
) -> None:
    await _put(r, f"{p}:cache:a", "x", idle_s=IDLE_S)
    url = redis_url.replace("redis://", "redis://:hunter2secret@")
    params = {"redis_url": url, "rules": [{"pattern": f"{p}:cache:*"}]}
    # no executor connection at all: the URL is the only way to reach the server
    with capture_logs() as logs:
        outcome = await run_handler("cache_cleanup", make_ctx(keys=keys), params)
    assert "hunter2secret" not in repr(outcome) + repr(logs)
    assert outcome.details["redis"].startswith("redis://:***@")
    assert await _existing(r, f"{p}:*") == set()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "params: give at least one of rules or orphans"),
        ({"rules": [{"pattern": "a:*", "older_than": "soon"}]}, "params.rules.0.older_than"),
        ({"orphans": [{"pattern": "s:*", "reference": "u:{2}"}]}, "params.orphans.0"),
        ({"rules": [{"pattern": "a:*"}], "flush": True}, "params.flush"),
    ],
)
async def test_bad_params_name_the_field(keys: Keys, params: dict[str, object], field: str) -> None:
    with pytest.raises(ParamsError) as caught:
        await run_handler("cache_cleanup", make_ctx(keys=keys), params)
    assert str(caught.value).startswith(field)


def test_glob_helpers() -> None:
    assert may_match_prefix("*", "ns:")
    assert may_match_prefix("ns:x*", "ns:")
    assert may_match_prefix("n*", "ns:")
    assert not may_match_prefix("session:*", "ns:")
    assert not may_match_prefix(r"n\*:*", "ns:")
    regex = glob_regex("sess[io]on:*:?")
    assert reference_for("session:42:x", regex, "user:{1}") == "user:42"
    assert reference_for("sessxon:42:x", regex, "user:{1}") is None
