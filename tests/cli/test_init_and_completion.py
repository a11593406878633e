"""`watchkeeper init` writes a starter config that validates; `completion <shell>` works."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from services.cli.main import cli
from services.cli.setup_cmds import PROFILES
from services.executor.handlers import registry
from shared.config.loader import load_config
from tests.support.processes import cli_env, run_cli


@pytest.mark.parametrize("profile", PROFILES)
async def test_init_writes_a_starter_that_validates(tmp_path: Path, profile: str) -> None:
    target = tmp_path / f"{profile}.yml"
    env = cli_env(REDIS_URL="", DATABASE_URL="", SLACK_WEBHOOK_URL="")
    code, out = await run_cli("init", "--profile", profile, "-f", str(target), env=env)
    assert code == 0, out
    assert target.read_text().startswith(f"# Watchkeeper starter config (profile: {profile})")
    code, out = await run_cli("validate", "-c", str(target), env=env)
    assert code == 0, out
    assert "valid (" in out
    config = load_config(target, env={}).config
    assert config.tasks
    for name, task in config.tasks.items():
        spec = registry.get(task.handler)
        assert spec is not None, f"{name}: no handler {task.handler!r}"
        spec.parse_params(task.params)  # raises naming the field


def test_init_refuses_to_overwrite_without_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first = CliRunner().invoke(cli, ["init"])
    assert first.exit_code == 0, first.output
    assert first.stdout.strip() == "watchkeeper.yml"  # data on stdout, the hint on stderr
    assert "profile basic" in first.stderr
    written = (tmp_path / "watchkeeper.yml").read_text()
    again = CliRunner().invoke(cli, ["init", "--profile", "trading"])
    assert again.exit_code == 1
    assert "exists; use --force" in again.stderr
    assert (tmp_path / "watchkeeper.yml").read_text() == written
    forced = CliRunner().invoke(cli, ["init", "--profile", "trading", "--force"])
    assert forced.exit_code == 0, forced.output
    assert "profile: trading" in (tmp_path / "watchkeeper.yml").read_text()
    # found without -c from the working directory
    assert "watchkeeper.yml: valid" in CliRunner().invoke(cli, ["validate"], env={}).stdout


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_the_shell_script(shell: str) -> None:
    done = CliRunner().invoke(cli, ["completion", shell])
    assert done.exit_code == 0, done.output
    assert "_WATCHKEEPER_COMPLETE" in done.stdout


async def test_the_completion_script_completes_commands() -> None:
    env = cli_env(
        _WATCHKEEPER_COMPLETE="bash_complete", COMP_WORDS="watchkeeper dead", COMP_CWORD="1"
    )
    code, out = await run_cli(env=env)
    assert code == 0, out
    assert "dead-letters" in out
    code, out = await run_cli("completion", "powershell", env=cli_env())
    assert code == 2, out
