"""One HTTP POST to a checked address (:mod:`.safety`), with the answer summarised."""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Final

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from services.reporter.notifier.safety import Allowlist, Target, resolve_target

ANSWER_SHOWN: Final = 500


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """Status, the ``Retry-After`` header (raw) and the start of the body."""

    status: int
    retry_after: str | None
    body: str


class _Pinned(AbstractResolver):
    """Resolves the checked host to the checked address only."""

    def __init__(self, target: Target) -> None:
        self.target = target

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The pinned address (aiohttp calls this instead of DNS)."""
        family = socket.AF_INET6 if ":" in self.target.address else socket.AF_INET
        return [ResolveResult(hostname=host, host=self.target.address, port=port,
                              family=family, proto=0, flags=socket.AI_NUMERICHOST)]  # fmt: skip

    async def close(self) -> None:
        """Nothing to release."""


async def post(
    url: str, body: bytes, headers: dict[str, str], *, allow: Allowlist, timeout_s: float
) -> HttpAnswer:
    """POST ``body`` to ``url`` after the target check; raises
    :class:`~.safety.TargetRefused`, ``aiohttp.ClientError`` or ``TimeoutError``."""
    target = await resolve_target(url, allow)
    connector = aiohttp.TCPConnector(resolver=_Pinned(target), use_dns_cache=False)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        async with session.post(url, data=body, headers=headers, allow_redirects=False) as resp:
            text = (await resp.read()).decode(errors="replace")
            return HttpAnswer(resp.status, resp.headers.get("Retry-After"), text[:ANSWER_SHOWN])


def retry_after_s(value: str | None, now: float) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delta seconds or an HTTP date)."""
    if not value:
        return None
    with contextlib.suppress(ValueError):  # not seconds: an HTTP date, tried below
        return max(0.0, float(value))
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def json_headers(**extra: Any) -> dict[str, str]:
    """``Content-Type: application/json`` plus ``extra``."""
    return {"Content-Type": "application/json", "User-Agent": "watchkeeper-notifier",
            **{k: str(v) for k, v in extra.items()}}  # fmt: skip
