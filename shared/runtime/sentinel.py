"""Redis Sentinel URLs: find the current master through the sentinels, follow failovers.

The scheme (redis-py has none of its own)::

    redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db][?sentinel_password=...]

``host:port`` pairs are the sentinels (port 26379 unless given), ``service`` is the name
the sentinels monitor (``sentinel monitor <service> ...``), ``db`` the database number
(0 unless given). Credentials before ``@`` are the master's (``requirepass``/ACL user);
``sentinel_password`` is for sentinels that have their own ``requirepass``.

Example: ``redis+sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26379,10.0.0.3/mymaster/0``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qs, unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff

from shared.runtime.send_timeout import cancel_safe

SCHEME: Final = "redis+sentinel"
DEFAULT_SENTINEL_PORT: Final = 26379


class SentinelUrlError(ValueError):
    """A ``redis+sentinel://`` URL that cannot be used (says which part is wrong)."""


@dataclass(frozen=True, slots=True)
class SentinelTarget:
    """What a sentinel URL names: the sentinels, the monitored service, db, credentials."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sentinel_password: str | None = field(default=None, repr=False)


def is_sentinel_url(url: str) -> bool:
    """Whether ``url`` uses the sentinel scheme (and so needs :func:`sentinel_client`)."""
    return url.lower().startswith(SCHEME + "://")


def _host_port(part: str) -> tuple[str, int]:
    if part.startswith("["):  # [::1]:26379
        host, _, rest = part[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = part.partition(":")
    if not host:
        raise SentinelUrlError(f"sentinel address {part!r} has no host")
    if port and not port.isdecimal():
        raise SentinelUrlError(f"sentinel address {part!r} has a port that is not a number")
    return host, int(port) if port else DEFAULT_SENTINEL_PORT


def _credentials(userinfo: str) -> tuple[str | None, str | None]:
    if not userinfo:
        return None, None
    user, colon, password = userinfo.partition(":")
    return unquote(user) or None, unquote(password) if colon else None


def parse_sentinel_url(url: str) -> SentinelTarget:
    """Parse a ``redis+sentinel://`` URL (see the module doc); raise SentinelUrlError."""
    if not is_sentinel_url(url):
        raise SentinelUrlError(f"not a {SCHEME}:// URL")
    parts = urlsplit(url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    sentinels = tuple(_host_port(h) for h in hosts.split(",") if h)
    if not sentinels:
        raise SentinelUrlError("no sentinel address before the service name")
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise SentinelUrlError("the path must be /<service> or /<service>/<db>")
    if len(path) == 2 and not path[1].isdecimal():
        raise SentinelUrlError(f"database {path[1]!r} is not a number")
    user, password = _credentials(userinfo)
    query = parse_qs(parts.query)
    sentinel_password = query.get("sentinel_password", [None])[-1]
    return SentinelTarget(sentinels, unquote(path[0]), int(path[1]) if len(path) == 2 else 0,
                          user, password, sentinel_password)  # fmt: skip


class SentinelRedis(aioredis.Redis):
    """A master client that also closes its sentinel connections when it is closed
    (redis-py leaves them to the caller, and our callers only hold the client)."""

    # Not ``sentinel``: that name is redis-py's SENTINEL command method.
    owned_sentinel: Sentinel | None = None

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        """Close the master connections, then the sentinel connections."""
        await super().aclose(close_connection_pool)
        if self.owned_sentinel is not None:
            await self.owned_sentinel.aclose()


def sentinel_client(url: str, **connection_kwargs: Any) -> aioredis.Redis:
    """A client of the master that ``url``'s sentinels name now; after a failover the
    next connection asks them again (a demoted master's READONLY reply counts as a
    connection error, so the caller's retry policy takes it to the new master)."""
    target = parse_sentinel_url(url)
    sentinel_kwargs: dict[str, Any] = {
        k: v for k, v in connection_kwargs.items() if k.startswith("socket_")
    }
    # No retries per sentinel: a dead one must not cost seconds of backoff when the next
    # one in the list can answer at once (redis-py asks them in turn).
    sentinel_kwargs["retry"] = Retry(NoBackoff(), retries=0)
    if target.sentinel_password:
        sentinel_kwargs["password"] = target.sentinel_password
    sentinel = Sentinel(list(target.sentinels), sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
    master: SentinelRedis = sentinel.master_for(
        target.service, redis_class=SentinelRedis, db=target.db,
        username=target.username, password=target.password, **connection_kwargs,
    )  # fmt: skip
    master.owned_sentinel = sentinel
    for asked in sentinel.sentinels:  # a cancelled discovery must end its task too
        cancel_safe(asked.connection_pool)
    return master
