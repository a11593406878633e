"""What every command shares: exit codes, -o formats, --color and NO_COLOR, config discovery."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from redis.exceptions import ConnectionError as RedisConnectionError

from services.cli.exits import ExitCode, exit_error
from services.cli.main import cli
from shared.config.loader import ConfigError, ConfigIssue
from shared.contract.keys import Keys
from tests.cli.conftest import Invoke, as_json
from tests.support.processes import ROOT, WATCHKEEPER, cli_env, run_cli

ESC = "\x1b["


async def test_exit_codes_through_the_real_entry_point(
    cfg: Path, tmp_path: Path, redis_url: str
) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("tasks: {a: {handler: command, timeout: whenever}}\n")
    # Four separate processes, started together: each pays the CLI's start-up once.
    missing, invalid, unreachable, unknown_format = await asyncio.gather(
        run_cli("tasks", "show", "nope", "-c", str(cfg), env=cli_env(redis_url)),
        run_cli("status", "-c", str(bad), env=cli_env(redis_url)),
        run_cli("status", "-c", str(cfg), env=cli_env("redis://127.0.0.1:1")),
        run_cli("status", "-o", "xml", "-c", str(cfg), env=cli_env(redis_url)),
    )
    code, out = missing
    assert code == ExitCode.NOT_FOUND == 3, out
    code, out = invalid
    assert code == ExitCode.USAGE == 2, out
    assert "tasks.a.timeout (line 1)" in out
    code, out = unreachable
    assert code == ExitCode.UNREACHABLE == 4, out
    assert "cannot reach Redis at redis://127.0.0.1:1" in out
    code, out = unknown_format
    assert code == 2, out


def test_errors_from_below_the_cli_are_mapped_once() -> None:
    invalid = exit_error(ConfigError([ConfigIssue("tasks", "bad")]))
    assert invalid is not None and invalid.exit_code == ExitCode.USAGE
    gone = exit_error(RedisConnectionError("Connection reset by peer"))
    assert gone is not None and gone.exit_code == ExitCode.UNREACHABLE
    assert exit_error(PermissionError("a file, not Redis")) is None
    assert exit_error(ValueError("a bug")) is None


def test_colour_follows_the_flag_then_no_color(wk: Invoke) -> None:
    assert wk("apply").exit_code == 0

    def listing(*flags: str, **env: str) -> str:
        done = wk(*flags, "tasks", "list", env=env)  # root options come before the command
        assert done.exit_code == 0, done.output
        return done.stdout

    assert ESC in listing("--color", "always")
    assert ESC in listing("--color", "always", NO_COLOR="1")  # an explicit flag wins
    assert ESC not in listing("--color", "never", FORCE_COLOR="1")
    assert ESC in listing(FORCE_COLOR="1")  # auto: a "terminal"…
    assert ESC not in listing(FORCE_COLOR="1", NO_COLOR="1")  # …unless NO_COLOR is set
    assert ESC not in listing()  # auto on a pipe


def test_existing_read_commands_speak_every_format(wk: Invoke) -> None:
    assert wk("apply").exit_code == 0
    decisions = as_json(wk("explain", "health", "-o", "json"))
    assert decisions == []
    assert "no decisions recorded for 'health' yet" in wk("explain", "health").stdout
    fires = as_json(wk("preview", "--task", "health", "-n", "2", "--json"))
    assert [set(f) for f in fires] == [{"utc", "local", "in_window"}] * 2
    assert (
        yaml.safe_load(wk("preview", "--task", "health", "-n", "2", "-o", "yaml").stdout) == fires
    )
    score = as_json(wk("priority", "health", "-o", "json"))
    assert score["task"] == "health" and score["priority"] == "high"
    assert [t["factor"] for t in score["terms"]] == ["impact", "urgency", "effort", "success_rate"]
    assert "score" in wk("priority", "health").stdout
    assert wk("priority", "nope").exit_code == 3
    assert wk("explain", "nope").exit_code == 3
    assert wk("preview", "--task", "nope").exit_code == 3
    assert as_json(wk("rollbacks", "list", "-o", "json")) == []


@pytest.fixture
def two_configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    here = tmp_path / "watchkeeper.yml"
    here.write_text(yaml.safe_dump({"tasks": {"a": {"handler": "system_health_check"}}}))
    other = tmp_path / "other.yml"
    other.write_text(yaml.safe_dump({"tasks": {}}))
    monkeypatch.chdir(tmp_path)
    return here, other


def test_config_discovery_order(two_configs: tuple[Path, Path]) -> None:
    here, other = two_configs

    def validate(*args: str, env: str | None = None) -> str:
        done = CliRunner().invoke(cli, ["validate", *args], env={"WATCHKEEPER_CONFIG": env})
        assert done.exit_code == 0, done.output
        return done.stdout.strip()

    assert validate() == "watchkeeper.yml: valid (1 tasks)"  # ./watchkeeper.yml
    assert validate(env=str(other)) == f"{other}: valid (0 tasks)"  # env over the file
    assert validate("-c", str(here), env=str(other)) == f"{here}: valid (1 tasks)"  # -c first
    here.unlink()
    assert validate() == "defaults: valid (0 tasks)"


def test_logs_go_to_stderr_and_stdout_stays_parseable(
    tmp_path: Path, redis_url: str, keys: Keys
) -> None:
    (tmp_path / "wk_noisy_plugin.py").write_text(
        "from shared.runtime.logging import get_logger\n"
        "get_logger('wk.plugin').warning('plugin.imported', note='a log line')\n"
    )
    cfg = tmp_path / "wk.yml"
    cfg.write_text(
        yaml.safe_dump({"namespace": keys.ns, "executor": {"plugins": ["wk_noisy_plugin"]}})
    )
    env = cli_env(redis_url, PYTHONPATH=f"{ROOT}{os.pathsep}{tmp_path}")
    done = subprocess.run([*WATCHKEEPER, "tasks", "list", "-o", "json", "-c", str(cfg)], env=env,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
    assert "plugin.imported" in done.stderr


def test_history_speaks_the_shared_formats(wk: Invoke) -> None:
    assert as_json(wk("history", "-o", "json")) == {"source": "redis", "results": []}
    assert yaml.safe_load(wk("history", "-o", "yaml").stdout) == {"source": "redis", "results": []}
    assert "0 result(s) from redis" in wk("history").stdout
