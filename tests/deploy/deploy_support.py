"""Checks shared by the deployment-file tests: a command the real CLI accepts, environment
names the real config loader reads, and the Dockerfile's facts.

No Docker engine or cluster is needed: each file is parsed and cross-checked against the
code it starts, so a renamed command, a misspelt ``WATCHKEEPER_*`` name or a config field
that no longer exists fails here instead of in a deployment.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from services.cli.main import cli
from services.executor.handlers import registry
from shared.config.checks import DEFAULT_CHECKS, handler_check
from shared.config.loader import ENV_PREFIX, ENV_SHORTCUTS, load_text
from shared.config.models import Config

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("scheduler", "executor", "reporter", "api")
"""The long-running services every deployment must run (plus the notifier once the CLI
has it: see :func:`deployed_services`)."""
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


def deployed_services() -> set[str]:
    """The services a full deployment runs: the four, and ``notifier`` when the CLI offers it
    (it is a consumer group of its own; until it exists the reporter delivers nothing)."""
    return set(SERVICES) | ({"notifier"} & set(cli.commands))


def check_command(argv: Sequence[str]) -> str:
    """Assert ``argv`` is a ``watchkeeper`` command whose options the real CLI accepts;
    return the subcommand's name."""
    assert argv and Path(argv[0]).name == "watchkeeper", f"not the watchkeeper command: {argv}"
    assert len(argv) > 1, f"no subcommand in {argv}"
    name = argv[1]
    assert name in cli.commands, (
        f"`watchkeeper {name}` does not exist (have: {sorted(cli.commands)})"
    )
    command = cli.commands[name]
    # Parses options and arguments as the real invocation would; a bad one raises.
    with command.make_context(name, list(argv[2:])):
        pass
    return name


def referenced_variables(config_text: str) -> set[str]:
    """Names a config file reads through ``${VAR}`` interpolation."""
    return set(_VAR.findall(config_text))


def check_env_names(env: Mapping[str, str], config_text: str) -> None:
    """Every name is read by the loader: a shortcut (REDIS_URL, DATABASE_URL), the config
    file's own variable, a ``WATCHKEEPER_*`` override (its field checked by loading) or a
    ``${VAR}`` the file interpolates."""
    readable = set(ENV_SHORTCUTS) | referenced_variables(config_text)
    for name in env:
        assert name in readable or name.startswith(ENV_PREFIX), (
            f"environment variable {name} is read by nothing in Watchkeeper"
        )


def load_with_env(config_text: str, env: Mapping[str, str]) -> Config:
    """The config a service sees with ``env`` (every check on, as ``watchkeeper`` loads it);
    an override that names no field fails as an unknown field."""
    check_env_names(env, config_text)
    checks = (*DEFAULT_CHECKS, handler_check(registry.names()))
    config = load_text(config_text, env=env, checks=checks).config
    if "REDIS_URL" in env:
        assert config.redis.url == env["REDIS_URL"]
    if "DATABASE_URL" in env:
        assert config.database.url == env["DATABASE_URL"]
    return config


@dataclass(frozen=True)
class Dockerfile:
    """The facts of the runtime (last) stage of the repo's Dockerfile."""

    copies: list[list[str]]
    """``COPY`` sources of the build stages (what the wheel is built from)."""
    user: str
    workdir: str
    cmd: list[str]
    healthcheck: list[str]
    text: str


def _instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _exec_form(rest: str) -> list[str]:
    assert rest.startswith("["), f"use the exec form (a JSON list), not a shell string: {rest}"
    value: list[str] = json.loads(rest)
    return value


def read_dockerfile(path: Path = ROOT / "Dockerfile") -> Dockerfile:
    """Parse the Dockerfile (instructions only: enough for the checks, no engine needed)."""
    text = path.read_text()
    user = workdir = ""
    cmd: list[str] = []
    health: list[str] = []
    copies = []
    for word, rest in _instructions(text):
        if word == "FROM":
            user, workdir = "root", "/"
        elif word == "USER":
            user = rest
        elif word == "WORKDIR":
            workdir = rest
        elif word == "CMD":
            cmd = _exec_form(rest)
        elif word == "HEALTHCHECK":
            health = _exec_form(rest[rest.index("CMD") + 3 :].strip())
        elif word == "COPY" and not rest.startswith("--from"):
            copies.append(shlex.split(rest)[:-1])
    return Dockerfile(copies, user, workdir, cmd, health, text)
