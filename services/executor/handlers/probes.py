"""Service probes of ``system_health_check``: is the order gateway up?

Each probe is one of ``http`` (a URL: expected status, default any 2xx, optional
``body_match`` regex), ``tcp`` (``host:port`` accepts a connection) or ``redis`` (a URL
answers PING), each with an optional ``max_latency_ms`` and a ``timeout_s``. A failed
probe costs the health score 15 points and becomes the alert ``probe.<name>`` (its
``severity``, critical by default) until it passes again. Probes reach internal
services by design: the targets are the operator's own configuration.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
from pydantic import Field, model_validator

from services.executor.handlers.kit import Params
from shared.contract.vocabulary import Severity
from shared.runtime.clock import Clock
from shared.runtime.logging import redact_text
from shared.runtime.redis import client


class Probe(Params):
    """One service probe (exactly one of ``http``, ``tcp``, ``redis``)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    http: str | None = Field(None, pattern=r"^https?://")
    tcp: str | None = Field(None, pattern=r"^.+:\d+$")
    redis: str | None = Field(None, pattern=r"^rediss?://")
    expect_status: list[int] = Field(default_factory=list)
    body_match: str | None = None
    max_latency_ms: float | None = Field(None, gt=0)
    timeout_s: float = Field(5.0, gt=0, le=300)
    severity: Severity = "critical"

    @model_validator(mode="after")
    def _one_kind(self) -> Probe:
        if sum(v is not None for v in (self.http, self.tcp, self.redis)) != 1:
            raise ValueError("give exactly one of http, tcp, redis")
        return self

    @property
    def kind(self) -> str:
        """``http``, ``tcp`` or ``redis``."""
        return "http" if self.http else "tcp" if self.tcp else "redis"

    @property
    def target(self) -> str:
        """What is probed, credentials masked."""
        return redact_text(self.http or self.tcp or self.redis or "")


async def _http(probe: Probe) -> dict[str, Any]:
    timeout = aiohttp.ClientTimeout(total=probe.timeout_s)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(probe.http or "", allow_redirects=False) as response,
    ):
        text = (await response.read()).decode(errors="replace")
    expected = probe.expect_status or None
    ok = response.status in expected if expected else 200 <= response.status < 300
    if not ok:
        return {"status": response.status, "error": f"HTTP {response.status}"}
    if probe.body_match and not re.search(probe.body_match, text):
        return {"status": response.status, "error": f"body does not match {probe.body_match!r}"}
    return {"status": response.status}


async def _tcp(probe: Probe) -> dict[str, Any]:
    host, _, port = (probe.tcp or "").rpartition(":")
    _, writer = await asyncio.open_connection(host.strip("[]"), int(port))
    writer.close()
    await writer.wait_closed()
    return {}


async def _redis(probe: Probe) -> dict[str, Any]:
    conn = client(probe.redis or "", socket_timeout=probe.timeout_s)
    try:
        await conn.ping()
    finally:
        await conn.aclose()
    return {}


KINDS = {"http": _http, "tcp": _tcp, "redis": _redis}


async def run_probe(probe: Probe, clock: Clock) -> dict[str, Any]:
    """Probe once; the outcome (``ok``, ``latency_ms``, ``error``) as result details."""
    outcome: dict[str, Any] = {"name": probe.name, "kind": probe.kind, "target": probe.target,
                               "severity": probe.severity}  # fmt: skip
    started = clock.monotonic()
    try:
        async with asyncio.timeout(probe.timeout_s):
            outcome |= await KINDS[probe.kind](probe)
    except TimeoutError:
        outcome["error"] = f"no answer within {probe.timeout_s:g} s"
    except Exception as exc:  # any failure to reach the service is the probe's finding
        outcome["error"] = redact_text(f"{type(exc).__name__}: {exc}")
    latency = round((clock.monotonic() - started) * 1000, 3)
    outcome["latency_ms"] = latency
    if "error" not in outcome and probe.max_latency_ms and latency > probe.max_latency_ms:
        outcome["error"] = f"latency {latency:.0f} ms above {probe.max_latency_ms:g} ms"
    outcome["ok"] = "error" not in outcome
    return outcome


async def run_probes(probes: list[Probe], clock: Clock) -> list[dict[str, Any]]:
    """Every probe, concurrently."""
    return list(await asyncio.gather(*(run_probe(p, clock) for p in probes)))
