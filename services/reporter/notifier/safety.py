"""Where HTTP channels may connect: no loopback, private, link-local or metadata targets.

A delivery resolves its URL's host once (:func:`resolve_target`) and refuses it when any
address it resolves to is not a public unicast address (loopback, RFC 1918 and other
private ranges, link-local including the cloud metadata address 169.254.169.254,
shared, reserved, multicast, IPv4-mapped forms of these) unless the host or the address
is listed in ``alerts.allow_private_targets`` (hosts, addresses or CIDR networks). The
connection then goes to the address that was checked, never to a second lookup, so a
name cannot pass the check and then resolve elsewhere (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TargetRefused(Exception):
    """A channel URL that may not be reached; the message says why."""


@dataclass(frozen=True, slots=True)
class Target:
    """A checked destination: the URL's host and port, and the address to connect to."""

    host: str
    port: int
    address: str


@dataclass(frozen=True, slots=True)
class Allowlist:
    """Hosts and networks that may be reached although they are not public."""

    hosts: frozenset[str]
    networks: tuple[Network, ...]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowlist:
        """``["127.0.0.1", "::1", "10.0.0.0/8", "alerts.internal"]`` → an allowlist."""
        hosts, networks = set(), []
        for entry in entries:
            text = entry.strip().strip("[]")
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                hosts.add(text.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows(self, host: str, address: Address) -> bool:
        """Whether ``host`` (as written in the URL) or its ``address`` is listed."""
        return host.lower().rstrip(".") in self.hosts or any(address in n for n in self.networks)


def forbidden(address: Address) -> str | None:
    """Why ``address`` is not a public target, or None when it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return forbidden(address.ipv4_mapped)
    for kind, flag in (("loopback", address.is_loopback), ("link-local", address.is_link_local),
                       ("private", address.is_private), ("multicast", address.is_multicast),
                       ("unspecified", address.is_unspecified)):  # fmt: skip
        if flag:
            return kind
    return None if address.is_global else "non-public"


def check(host: str, addresses: Sequence[str], allow: Allowlist) -> str:
    """The address to connect to, or :class:`TargetRefused` naming the refused one."""
    if not addresses:
        raise TargetRefused(f"{host} does not resolve")
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        why = forbidden(address)
        if why and not allow.allows(host, address):
            shown = host if host == text else f"{host} ({text})"
            raise TargetRefused(
                f"refused to connect to {shown}: {why} address "
                "(list it in alerts.allow_private_targets to allow it)"
            )
    return addresses[0]


async def resolve_target(url: str, allow: Allowlist) -> Target:
    """Resolve ``url``'s host once and check every address (see the module docstring)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("the URL must be http:// or https:// with a host")
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise TargetRefused(f"{host} does not resolve: {exc}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    return Target(host, port, check(host, addresses, allow))
