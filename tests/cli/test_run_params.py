"""`watchkeeper run/trigger --param` follow the trigger rule: only declared params, and
never a command's argv/env/cwd, refused before anything is sent."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from services.cli.main import cli
from shared.contract.keys import Keys


def test_cli_run_refuses_a_param_the_task_does_not_declare(tmp_path: Path, keys: Keys) -> None:
    cfg = tmp_path / "wk.yml"
    cfg.write_text(f"namespace: {keys.ns}\ntasks:\n  quick:\n    handler: command\n"
                   "    params: {argv: ['true']}\n    overridable_params: [ok_exit_codes]\n"
                   "    emergency: true\n")  # fmt: skip
    # Nothing is sent: an unreachable Redis would otherwise be the error.
    env = {"REDIS_URL": "redis://127.0.0.1:1"}
    for command in (["run", "quick"], ["trigger", "quick", "--reason", "r"]):
        done = CliRunner().invoke(
            cli, [*command, "-c", str(cfg), "--param", "argv=[false]"], env=env
        )
        assert done.exit_code == 2, done.output
        assert "task 'quick': param(s) argv may not be set by a trigger" in done.output
        assert "cannot reach Redis" not in done.output
    allowed = CliRunner().invoke(
        cli, ["run", "quick", "-c", str(cfg), "--param", "ok_exit_codes=[0, 1]", "--dry-run"]
    )
    assert allowed.exit_code == 0, allowed.output
