"""`watchkeeper healthcheck`: 0 when the config loads and Redis answers, else the CLI's
exit code (2 config, 4 unreachable) and why."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from services.cli.main import cli


def test_healthy_when_redis_answers(tmp_path: Path, redis_url: str) -> None:
    cfg = tmp_path / "wk.yml"
    cfg.write_text("namespace: probe\n")
    env = {"REDIS_URL": redis_url, "WATCHKEEPER_CONFIG": str(cfg)}  # as compose sets them
    result = CliRunner().invoke(cli, ["healthcheck"], env=env)
    assert (result.exit_code, result.output.strip()) == (0, "ok"), result.output


def test_unhealthy_when_redis_is_unreachable() -> None:
    result = CliRunner().invoke(cli, ["healthcheck"], env={"REDIS_URL": "redis://127.0.0.1:1"})
    assert result.exit_code == 4  # unreachable (services/cli/exits.py)
    assert "cannot reach Redis at redis://127.0.0.1:1" in result.output


def test_unhealthy_when_the_config_is_invalid(tmp_path: Path, redis_url: str) -> None:
    cfg = tmp_path / "wk.yml"
    cfg.write_text("namespace: probe\nexecutor: {max_concurrent: 0}\n")
    result = CliRunner().invoke(cli, ["healthcheck", "-c", str(cfg)], env={"REDIS_URL": redis_url})
    assert result.exit_code == 2  # config error
    assert "executor.max_concurrent" in result.output
