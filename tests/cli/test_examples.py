"""The shipped examples validate, and every task's params fit its handler.

Both files use the filesystem handlers (data_cleanup, log_rotation, backup) next to the
systems ones, so this needs every built-in handler registered.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from services.cli.main import cli
from services.executor.handlers import registry
from shared.config.loader import load_config

EXAMPLES = Path(__file__).parents[2] / "examples"
ENV = {"REDIS_URL": "", "DATABASE_URL": "", "DESK_OPS_TOKEN": "t", "SLACK_WEBHOOK_URL": ""}


@pytest.mark.parametrize("name", ["watchkeeper.yml", "trading-desk.yml"])
def test_example_validates(name: str) -> None:
    result = CliRunner().invoke(cli, ["validate", "-c", str(EXAMPLES / name)], env=ENV)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name", ["watchkeeper.yml", "trading-desk.yml"])
def test_every_task_params_fit_its_handler(name: str) -> None:
    config = load_config(EXAMPLES / name, env=ENV).config
    for task_name, task in config.tasks.items():
        spec = registry.get(task.handler)
        assert spec is not None, f"{task_name}: no handler {task.handler!r}"
        spec.parse_params(task.params)  # raises ParamsError naming the field


def test_the_desk_example_uses_the_real_handlers() -> None:
    text = (EXAMPLES / "trading-desk.yml").read_text()
    handlers = {line.split(":", 1)[1].strip() for line in text.splitlines()
                if line.strip().startswith("handler:")}  # fmt: skip
    assert handlers == {"system_health_check", "http_request", "cache_cleanup",
                        "database_maintenance", "data_cleanup", "log_rotation", "backup",
                        "security_audit", "quality_check"}  # fmt: skip
