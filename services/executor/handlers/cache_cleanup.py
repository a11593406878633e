"""``cache_cleanup``: remove stale and orphaned Redis keys, found by SCAN, never FLUSH.

Two kinds of rule, each a SCAN over one pattern:

- ``rules``: keys matching ``pattern`` idle for at least ``older_than`` (``OBJECT
  IDLETIME``), by default only those without a TTL (``only_without_ttl: false`` takes
  every matching key, e.g. rate-limit counters cleared at the open);
- ``orphans``: keys matching ``pattern`` whose referenced key no longer exists.
  ``reference`` names that key with ``{n}`` standing for the text the n-th ``*`` of the
  pattern matched: ``{pattern: "session:*", reference: "user:{1}"}`` removes
  ``session:42`` once ``user:42`` is gone.

Keys are sized with ``MEMORY USAGE`` (``bytes_freed``) and removed with ``UNLINK`` in
batches (one pipelined UNLINK per key, so the count of removed keys is exact). A key
touched between the scan and its batch may still go: the window is one batch.
Patterns that could reach Watchkeeper's own namespace are refused unless
``allow_namespace`` is set, and keys in it are skipped even by a broad pattern.
``dry_run`` (or ``watchkeeper run --dry-run``) lists what would go and removes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import Field, model_validator

from services.executor.handlers.base import HandlerError, Outcome, ParamsError, RunContext
from services.executor.handlers.kit import Params
from services.executor.handlers.redis_glob import (
    glob_regex,
    may_match_prefix,
    placeholders,
    reference_for,
    star_count,
)
from services.executor.handlers.registry import handler
from services.executor.handlers.steps import Step
from shared.config.models import Duration
from shared.runtime.logging import redact_text
from shared.runtime.redis import Redis, client

PLAN_SHOWN: Final = 200
"""Keys listed in a result (the counts cover all of them)."""


class IdleRule(Params):
    """Keys matching ``pattern`` idle at least ``older_than`` (and without TTL by default)."""

    pattern: str = Field(min_length=1)
    older_than: Duration = 0.0
    only_without_ttl: bool = True


class OrphanRule(Params):
    """Keys matching ``pattern`` whose ``reference`` key (``{n}`` = n-th ``*``) is gone."""

    pattern: str = Field(min_length=1)
    reference: str = Field(min_length=1)

    @model_validator(mode="after")
    def _placeholders_fit(self) -> OrphanRule:
        used, stars = placeholders(self.reference), star_count(self.pattern)
        if not used:
            raise ValueError("reference must use {1} (the text the pattern's first * matched)")
        if max(used) > stars or min(used) < 1:
            raise ValueError(f"reference uses {{{max(used)}}} but pattern has {stars} '*'")
        return self


class CacheCleanupParams(Params):
    """Which Redis, which rules, and how carefully; at least one rule is required."""

    redis_url: str | None = None
    rules: list[IdleRule] = Field(default_factory=list)
    orphans: list[OrphanRule] = Field(default_factory=list)
    measure_bytes: bool = True
    memory_samples: int = Field(5, ge=0, le=1000)
    batch_size: int = Field(500, ge=1, le=10_000)
    max_keys: int = Field(1_000_000, ge=1)
    allow_namespace: bool = False
    dry_run: bool = False

    @model_validator(mode="after")
    def _has_rules(self) -> CacheCleanupParams:
        if not self.rules and not self.orphans:
            raise ValueError("give at least one of rules or orphans")
        return self


@dataclass
class _Found:
    """Candidates in scan order (key → why), and what the scan saw."""

    reasons: dict[bytes, str] = field(default_factory=dict)
    scanned: int = 0
    skipped_namespace: int = 0
    truncated: bool = False


def _refuse_namespace(params: CacheCleanupParams, ns: str) -> None:
    if params.allow_namespace:
        return
    groups: list[tuple[str, Sequence[IdleRule | OrphanRule]]] = [
        ("rules", params.rules), ("orphans", params.orphans),
    ]  # fmt: skip
    for name, rules in groups:
        for i, rule in enumerate(rules):
            if may_match_prefix(rule.pattern, f"{ns}:"):
                raise ParamsError(
                    f"params.{name}.{i}.pattern: {rule.pattern!r} could match Watchkeeper's own "
                    f"keys ({ns}:*); start it with another literal prefix or set allow_namespace"
                )


@asynccontextmanager
async def _connection(ctx: RunContext, params: CacheCleanupParams) -> AsyncIterator[Redis]:
    if params.redis_url is None:
        if ctx.redis is None:
            raise HandlerError("no Redis to clean: set params.redis_url")
        yield ctx.redis
        return
    conn = client(params.redis_url)
    try:
        yield conn
    finally:
        await conn.aclose()


async def _scan(r: Redis, pattern: str, count: int) -> AsyncIterator[list[bytes]]:
    """SCAN ``pattern`` in pages (never KEYS: it blocks the server on a big keyspace)."""
    cursor: int = 0
    while True:
        cursor, page = await r.scan(cursor, match=pattern, count=count)
        if page:
            yield [k if isinstance(k, bytes) else k.encode() for k in page]
        if cursor == 0:
            return


async def _idle_matches(r: Redis, keys: list[bytes], rule: IdleRule) -> list[bytes]:
    async with r.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.object("IDLETIME", key)
            pipe.ttl(key)
        replies = await pipe.execute(raise_on_error=False)
    chosen = []
    for key, idle, ttl in zip(keys, replies[::2], replies[1::2], strict=True):
        if isinstance(idle, Exception) or isinstance(ttl, Exception) or ttl == -2:
            continue  # gone meanwhile, or idle time unknown (LFU policy): leave it
        if idle >= rule.older_than and (ttl == -1 or not rule.only_without_ttl):
            chosen.append(key)
    return chosen


async def _orphan_matches(r: Redis, keys: list[bytes], rule: OrphanRule) -> list[bytes]:
    regex = glob_regex(rule.pattern)
    refs = {k: reference_for(k.decode("utf-8", "surrogateescape"), regex, rule.reference)
            for k in keys}  # fmt: skip
    checked = [(k, ref) for k, ref in refs.items() if ref is not None]
    async with r.pipeline(transaction=False) as pipe:
        for _, ref in checked:
            pipe.exists(ref.encode("utf-8", "surrogateescape"))
        exists = await pipe.execute()
    return [k for (k, _), alive in zip(checked, exists, strict=True) if not alive]


async def _apply_rule(
    r: Redis, rule: IdleRule | OrphanRule, params: CacheCleanupParams, own: bytes, found: _Found
) -> None:
    why = f"orphan of {rule.reference}" if isinstance(rule, OrphanRule) else "idle"
    async for page in _scan(r, rule.pattern, params.batch_size):
        found.scanned += len(page)
        if not params.allow_namespace:
            kept = [k for k in page if not k.startswith(own)]
            found.skipped_namespace += len(page) - len(kept)
            page = kept
        if isinstance(rule, OrphanRule):
            chosen = await _orphan_matches(r, page, rule)
        else:
            chosen = await _idle_matches(r, page, rule)
        for key in chosen:
            if len(found.reasons) >= params.max_keys:
                found.truncated = True
                return
            found.reasons.setdefault(key, f"{rule.pattern}: {why}")


async def _find(ctx: RunContext, r: Redis, params: CacheCleanupParams, step: Step) -> _Found:
    found = _Found()
    own = f"{ctx.keys.ns}:".encode()
    every: list[IdleRule | OrphanRule] = [*params.rules, *params.orphans]
    for rule in every:
        await _apply_rule(r, rule, params, own, found)
        await ctx.progress(found.scanned, None, f"scanned {found.scanned} keys")
        if found.truncated:
            break
    step.count(scanned=found.scanned, matched=len(found.reasons))
    return found


async def _sizes(r: Redis, keys: list[bytes], params: CacheCleanupParams) -> dict[bytes, int]:
    sizes: dict[bytes, int] = {}
    for start in range(0, len(keys), params.batch_size):
        batch = keys[start : start + params.batch_size]
        async with r.pipeline(transaction=False) as pipe:
            for key in batch:
                pipe.memory_usage(key, samples=params.memory_samples)
            replies = await pipe.execute(raise_on_error=False)
        sizes.update((k, v) for k, v in zip(batch, replies, strict=True) if isinstance(v, int))
    return sizes


async def _unlink(
    ctx: RunContext, r: Redis, keys: list[bytes], sizes: dict[bytes, int], step: Step,
    batch_size: int,
) -> tuple[int, int]:  # fmt: skip
    """UNLINK in batches; returns (keys removed, bytes of the removed keys)."""
    removed = freed = 0
    for start in range(0, len(keys), batch_size):
        batch = keys[start : start + batch_size]
        async with r.pipeline(transaction=False) as pipe:
            for key in batch:
                pipe.unlink(key)
            gone = await pipe.execute()
        for key, count in zip(batch, gone, strict=True):
            if count:
                removed += 1
                freed += sizes.get(key, 0)
        step.count(batches=1, keys=len(batch))
        await ctx.progress(start + len(batch), len(keys), f"removed {removed} keys")
    return removed, freed


def _shown(found: _Found, sizes: dict[bytes, int]) -> list[dict[str, Any]]:
    return [
        {"key": key.decode(errors="replace"), "reason": why, "bytes": sizes.get(key, 0)}
        for key, why in list(found.reasons.items())[:PLAN_SHOWN]
    ]


def _summary(found: _Found, sizes: dict[bytes, int], params: CacheCleanupParams) -> dict[str, Any]:
    return {
        "redis": redact_text(params.redis_url) if params.redis_url else "executor's own",
        "keys": _shown(found, sizes),
        "keys_listed": min(len(found.reasons), PLAN_SHOWN),
        "truncated_at_max_keys": found.truncated,
        "skipped_namespace_keys": found.skipped_namespace,
    }


@handler("cache_cleanup", params=CacheCleanupParams)
async def cache_cleanup(ctx: RunContext, params: CacheCleanupParams) -> Outcome:
    """Find stale and orphaned keys, size them, and UNLINK them (or list them: dry run)."""
    _refuse_namespace(params, ctx.keys.ns)
    async with _connection(ctx, params) as r:
        async with ctx.step("scan") as step:
            found = await _find(ctx, r, params, step)
        keys = list(found.reasons)
        async with ctx.step("measure") as step:
            sizes = await _sizes(r, keys, params) if params.measure_bytes else {}
            step.count(keys=len(sizes), bytes=sum(sizes.values()))
        details = _summary(found, sizes, params)
        metrics: dict[str, Any] = {"items_processed": found.scanned, "keys_scanned": found.scanned,
                                   "keys_matched": len(keys), "files_processed": 0}  # fmt: skip
        if ctx.dry_run or params.dry_run:
            planned = sum(sizes.values())
            return Outcome(message=f"dry run: would remove {len(keys)} keys ({planned} bytes)",
                           details={**details, "dry_run": True},
                           metrics={**metrics, "keys_removed": 0, "bytes_freed": 0,
                                    "bytes_planned": planned})  # fmt: skip
        async with ctx.step("delete") as step:
            removed, freed = await _unlink(ctx, r, keys, sizes, step, params.batch_size)
    return Outcome(
        message=f"removed {removed} of {found.scanned} scanned keys ({freed} bytes)",
        details=details, metrics={**metrics, "keys_removed": removed, "bytes_freed": freed},
    )  # fmt: skip
