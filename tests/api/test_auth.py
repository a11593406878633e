"""Bearer tokens and roles on a real server: 401 without a token, 403 with a weak one,
open on loopback when no token is configured, never open beyond loopback."""

from __future__ import annotations

import pytest

from services.api.auth import Auth, InsecureBind, check_bind, is_loopback
from shared.config.models import ApiSettings, ApiToken
from shared.contract.keys import Keys
from shared.runtime.redis import Redis
from tests.api.support import running_api

TASKS = "tasks:\n  hc: {handler: system_health_check, schedule: {every: 5m}}\n"


async def test_reads_need_viewer_mutations_operator_definitions_admin(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys, TASKS) as api:
        read, mutate = ("GET", "/api/v1/tasks"), ("POST", "/api/v1/tasks/hc/pause")
        change = ("PATCH", "/api/v1/tasks/hc")
        for (method, path), allowed in ((read, "viewer"), (mutate, "operator"), (change, "admin")):
            status, body, headers = await api.call(method, path, role=None, json={})
            assert (status, body["error"]["code"]) == (401, "unauthorized"), path
            assert headers["WWW-Authenticate"] == "Bearer"
            status, body, _ = await api.call(method, path, token="not-a-token", json={})
            assert status == 401, path
            for role in ("viewer", "operator", "admin"):
                status, body, _ = await api.call(method, path, role=role, json={})
                weak = ["viewer", "operator", "admin"].index(role) < [
                    "viewer",
                    "operator",
                    "admin",
                ].index(allowed)
                assert (status == 403) == weak, (path, role, status)
                if weak:
                    assert body["error"]["details"] == {"required": allowed, "role": role}


async def test_probes_and_openapi_need_no_token(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys, TASKS) as api:
        for path in ("/healthz", "/api/v1/openapi.json", "/metrics"):
            assert (await api.call("GET", path, role=None))[0] == 200, path
        status, body, _ = await api.call("GET", "/readyz", role=None)
        assert (status, body["status"]) == (503, "not ready")  # nothing deployed: no 401


async def test_badges_are_public_only_when_configured(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys, TASKS) as api:
        assert (await api.call("GET", "/api/v1/tasks/hc/badge.svg", role=None))[0] == 401
    async with running_api(r, keys, TASKS, api="  public_badges: true\n") as api:
        status, body, headers = await api.call("GET", "/api/v1/tasks/hc/badge.svg", role=None)
        assert status == 200
        assert headers["Content-Type"].startswith("image/svg+xml")
        assert "hc: never run" in body
        # Only the badge: everything else still needs a token.
        assert (await api.call("GET", "/api/v1/tasks/hc", role=None))[0] == 401


async def test_no_tokens_on_loopback_is_open_to_everything(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys, TASKS, tokens=False) as api:
        status, body, _ = await api.call(
            "PATCH", "/api/v1/tasks/hc", role=None, json={"priority": "high"}
        )
        assert (status, body["definition"]["priority"]) == (200, "high")


def test_no_tokens_refuses_a_non_loopback_bind() -> None:
    with pytest.raises(InsecureBind, match=r"0\.0\.0\.0:8080 with no tokens"):
        check_bind(ApiSettings(host="0.0.0.0"))
    check_bind(ApiSettings(host="127.0.0.1"))
    check_bind(ApiSettings(host="::1"))
    check_bind(ApiSettings(host="0.0.0.0", tokens={"ops": ApiToken(token="t", role="operator")}))


def test_an_empty_token_grants_nothing() -> None:
    # An unset ${WK_TOKEN} interpolates to "": it must not match an empty bearer value.
    auth = Auth.from_settings(
        ApiSettings(tokens={"ops": ApiToken(token="", role="admin"), "v": ApiToken(token="v1")})
    )
    assert auth.principal("Bearer ") is None
    assert auth.principal("Bearer v1") is not None
    with pytest.raises(InsecureBind):
        check_bind(ApiSettings(host="10.0.0.1", tokens={"ops": ApiToken(token="")}))


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.1.2.3", False),
        ("example.com", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
