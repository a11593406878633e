"""Bearer tokens with roles: viewer < operator < admin.

Reads need viewer, mutations operator, task definition changes admin. With no tokens
configured at all the API is open, but only on a loopback bind (the local ``make run``
experience); :func:`check_bind` refuses to start it anywhere else.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from services.api.errors import Forbidden, Unauthorized
from shared.config.models import ApiSettings

Role = Literal["viewer", "operator", "admin"]
RANK: Final[Mapping[str, int]] = {"viewer": 0, "operator": 1, "admin": 2}
LOCAL: Final = "local"
"""The principal of a request on an open (token-less, loopback) API."""


class InsecureBind(ValueError):
    """No tokens are configured and the API would listen beyond loopback."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made a request: the token's name (``local`` when the API is open) and role."""

    name: str
    role: Role


@dataclass(frozen=True, slots=True)
class Auth:
    """The configured tokens (empty values are ignored: an unset ``${VAR}`` grants nothing)."""

    tokens: tuple[tuple[bytes, Principal], ...]

    @classmethod
    def from_settings(cls, api: ApiSettings) -> Auth:
        """Tokens from ``api.tokens`` (config file, ``${VAR}`` or ``WATCHKEEPER_API__…``)."""
        found = tuple(
            (t.token.encode(), Principal(name, t.role))
            for name, t in sorted(api.tokens.items())
            if t.token
        )
        return cls(found)

    @property
    def open(self) -> bool:
        """No token configured: every request is the local admin (loopback only)."""
        return not self.tokens

    def principal(self, header: str | None) -> Principal | None:
        """Who the ``Authorization`` header names; None without a usable header."""
        if self.open:
            return Principal(LOCAL, "admin")
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        given = token.strip().encode()
        # Compare against every token so the time taken says nothing about which matched.
        match = None
        for secret, principal in self.tokens:
            if hmac.compare_digest(secret, given):
                match = principal
        return match

    def require(self, header: str | None, role: Role) -> Principal:
        """The request's principal if its role is at least ``role``; 401/403 otherwise."""
        principal = self.principal(header)
        if principal is None:
            raise Unauthorized("a bearer token is required (Authorization: Bearer <token>)")
        if RANK[principal.role] < RANK[role]:
            raise Forbidden(
                f"this needs the {role} role; token {principal.name!r} has {principal.role}",
                details={"required": role, "role": principal.role},
            )
        return principal


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts local connections (``localhost``, 127/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(api: ApiSettings) -> None:
    """Refuse an open API on a non-loopback bind (raises :class:`InsecureBind`)."""
    if Auth.from_settings(api).open and not is_loopback(api.host):
        raise InsecureBind(
            f"the API would listen on {api.host}:{api.port} with no tokens: anyone on the "
            "network could run tasks and change definitions. Configure api.tokens "
            "(e.g. {ops: {token: '${WK_OPS_TOKEN}', role: operator}}) or bind 127.0.0.1"
        )
