"""compose.yaml, checked without a Docker engine: parsed, every command run through the
real CLI's parser, every environment name through the real config loader, the Redis
settings through a real Redis server started with the file's own arguments."""

from __future__ import annotations

import ipaddress
import re
import shlex
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from shared.config.models import Config
from shared.runtime.embedded import find_binary, free_port
from tests.deploy.deploy_support import (
    ROOT,
    check_command,
    deployed_services,
    load_with_env,
    read_dockerfile,
)

COMPOSE = ROOT / "compose.yaml"
SECRETS = {"REDIS_PASSWORD": "redis-pass-x1", "POSTGRES_PASSWORD": "pg-pass-x2",
           "WK_OPS_TOKEN": "ops-token-x3"}  # fmt: skip
"""What an operator's .env holds (deploy/compose.env.example names them)."""
_COMPOSE_VAR = re.compile(r"\$\$|\$\{(?P<name>\w+)(?P<op>:?[-?+])?(?P<arg>[^}]*)\}")


class Unset(Exception):
    """A ``${VAR:?message}`` whose variable is not set: compose refuses to start."""


def interpolate(value: str, given: Mapping[str, str]) -> str:
    """Compose's interpolation of the forms the file uses (``${V}``, ``${V:?msg}``,
    ``${V:-default}``, ``$$``)."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op = m["name"], m["op"] or ""
        if given.get(name):
            return given[name]
        if op.endswith("?"):
            raise Unset(f"{name}: {m['arg']}")
        return m["arg"] if op.endswith("-") else ""

    return _COMPOSE_VAR.sub(sub, value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def _ours(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run the Watchkeeper image."""
    services = compose["services"].items()
    return {n: s for n, s in services if s.get("image", "").startswith("watchkeeper")}


def _env(service: dict[str, Any]) -> dict[str, str]:
    return {k: interpolate(str(v), SECRETS) for k, v in service.get("environment", {}).items()}


def _config_text(service: dict[str, Any]) -> str:
    """The config file mounted where WATCHKEEPER_CONFIG points (read from the host path)."""
    target = service["environment"]["WATCHKEEPER_CONFIG"]
    for mount in service["volumes"]:
        source, _, rest = mount.partition(":")
        if rest.split(":")[0] == target:
            return (ROOT / source).read_text()
    raise AssertionError(f"nothing is mounted at WATCHKEEPER_CONFIG={target}")


def _loaded(service: dict[str, Any]) -> Config:
    return load_with_env(_config_text(service), _env(service))


def test_every_service_runs_with_its_replicas(compose: dict[str, Any]) -> None:
    ours = _ours(compose)
    commands = {check_command(s["command"]) for s in ours.values()}
    assert commands == deployed_services(), "compose must run exactly the CLI's services"
    for name, service in ours.items():
        assert check_command(service["command"]) == name
    assert ours["scheduler"]["deploy"]["replicas"] == 2
    assert ours["executor"]["deploy"]["replicas"] == 3
    assert {"redis", "postgres"} <= set(compose["services"])


def test_environment_names_are_read_by_the_config(compose: dict[str, Any]) -> None:
    for service in _ours(compose).values():
        config = _loaded(service)
        assert config.redis.url == f"redis://:{SECRETS['REDIS_PASSWORD']}@redis:6379/0"
        assert config.database.url is not None
        assert f":{SECRETS['POSTGRES_PASSWORD']}@postgres:5432/" in config.database.url
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"


def test_a_misspelt_override_would_be_caught() -> None:
    with pytest.raises(Exception, match="unknown field"):
        load_with_env("{}", {"WATCHKEEPER_API__HOTS": "api.local"})
    with pytest.raises(AssertionError, match="REDIS_ULR is read by nothing"):
        load_with_env("{}", {"REDIS_ULR": "redis://x"})


def test_secrets_come_only_from_the_environment(compose: dict[str, Any]) -> None:
    for service in compose["services"].values():
        for name, value in service.get("environment", {}).items():
            if "PASSWORD" in name or "AUTH" in name or "_URL" in name:
                assert ":?" in str(value), f"{name} must need a variable from the environment"
                with pytest.raises(Unset):  # compose refuses to start without it
                    interpolate(str(value), {})
    assert not any(v in COMPOSE.read_text() for v in SECRETS.values())


def test_the_api_is_reachable_and_probed_on_its_port(compose: dict[str, Any]) -> None:
    api = _ours(compose)["api"]
    config = _loaded(api)
    assert ipaddress.ip_address(config.api.host).is_unspecified  # all of the container's
    published = [p.rsplit(":", 1)[-1] for p in api["ports"]]
    assert published == [str(config.api.port)]
    probe = " ".join(api["healthcheck"]["test"])
    assert f"http://127.0.0.1:{config.api.port}/healthz" in probe


def test_every_service_has_a_health_check(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] == "CMD", f"{name} has no exec-form health check"
        if test[1] == "watchkeeper":
            check_command(test[1:])


def test_one_image_from_the_repo_dockerfile(compose: dict[str, Any]) -> None:
    dockerfile = read_dockerfile()
    images = {(s["build"], s["image"]) for s in _ours(compose).values()}
    assert images == {(".", "watchkeeper:latest")}
    assert (ROOT / "Dockerfile").exists()
    for service in _ours(compose).values():
        config = _loaded(service)
        data = f"{dockerfile.workdir}/{config.data_dir}"
        targets = [m.split(":")[1] for m in service["volumes"]]
        assert data in targets, f"the data dir {data} must be a volume"


def test_mounts_and_volumes_exist(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    for name, service in compose["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"


def _redis_argv(compose: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    service = compose["services"]["redis"]
    env = _env(service)
    shell, flag, script = service["command"]
    assert (shell, flag) == ("sh", "-c")
    # compose turns $$ into $, then sh expands the container's own variable
    script = interpolate(script, SECRETS).replace("$REDIS_PASSWORD", env["REDIS_PASSWORD"])
    words = shlex.split(script)
    assert words[:2] == ["exec", "redis-server"]
    return words[2:], env


@pytest.fixture
def compose_redis(compose: dict[str, Any], tmp_path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """A real server started with compose.yaml's own arguments (port and dir made local)."""
    args, env = _redis_argv(compose)
    port = free_port()
    argv = [
        find_binary(),
        *args,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(tmp_path),
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield port, env
    finally:
        proc.kill()
        proc.wait(10)


def _wait_ping(port: int, password: str) -> redis.Redis:
    conn = redis.Redis(port=port, password=password, socket_timeout=1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            conn.ping()
            return conn
        except redis.ConnectionError:
            time.sleep(0.05)  # a server process starting: polled, bounded
    conn.close()
    raise AssertionError("the compose Redis did not answer within 10 s")


def test_redis_keeps_an_aof_never_evicts_and_needs_the_password(
    compose_redis: tuple[int, dict[str, str]],
) -> None:
    port, env = compose_redis
    with _wait_ping(port, env["REDIS_PASSWORD"]) as conn:
        settings = conn.config_get("appendonly") | conn.config_get("appendfsync")
        settings |= conn.config_get("maxmemory-policy")
    assert settings["appendonly"] == "yes"
    assert settings["appendfsync"] in ("everysec", "always")
    assert settings["maxmemory-policy"] == "noeviction"
    assert env["REDISCLI_AUTH"] == env["REDIS_PASSWORD"], "the health check must authenticate"
    with (
        redis.Redis(port=port, socket_timeout=1) as anonymous,
        pytest.raises(redis.AuthenticationError),
    ):
        anonymous.ping()


def test_the_reporter_yields_the_cpu_to_the_run_path(compose: dict[str, Any]) -> None:
    """As ``reporter.nice`` does on one host: the containers' CPU weights, default 1024."""
    services = compose["services"]
    assert services["reporter"]["cpu_shares"] < 1024
    assert all("cpu_shares" not in services[name] for name in ("scheduler", "executor", "redis"))
