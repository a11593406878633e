"""`watchkeeper validate`: exit 0 for a good file, 2 with every error listed."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from services.cli.main import cli

EXAMPLE = Path(__file__).parents[2] / "examples" / "watchkeeper.yml"


def test_example_is_valid() -> None:
    result = CliRunner().invoke(cli, ["validate", "-c", str(EXAMPLE)], env={"REDIS_URL": ""})
    assert result.exit_code == 0, result.output
    assert "valid (7 tasks)" in result.output


def test_every_error_is_listed_with_path_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "tasks:\n"
        "  a: {handler: command, timeout: whenever}\n"
        "  b: {handler: unheard_of}\n"
        "  c: {handler: command, depends_on: [zzz]}\n"
    )
    result = CliRunner().invoke(cli, ["validate", "-c", str(bad)])
    assert result.exit_code == 2
    assert "tasks.a.timeout (line 2): 'whenever' is not a duration" in result.output
    # reference checks run once the models are valid; fix a and see b and c
    bad.write_text(
        "tasks:\n  b: {handler: unheard_of}\n  c: {handler: command, depends_on: [zzz]}\n"
    )
    result = CliRunner().invoke(cli, ["validate", "-c", str(bad)])
    assert result.exit_code == 2
    assert "has 2 error(s)" in result.output
    assert "tasks.b.handler (line 2): unknown handler 'unheard_of'" in result.output
    assert "tasks.c.depends_on[0] (line 3): unknown task 'zzz'" in result.output


def test_unset_variables_are_warnings(tmp_path: Path) -> None:
    cfg = tmp_path / "w.yml"
    cfg.write_text("alerts:\n  channels:\n    - {type: slack, url: '${SLACK_HOOK_X}'}\n")
    result = CliRunner().invoke(cli, ["validate", "-c", str(cfg)], env={"SLACK_HOOK_X": None})
    assert result.exit_code == 0
    assert (
        "warning: alerts.channels[0].url (line 3): environment variable SLACK_HOOK_X is not set"
        in result.output
    )


def test_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", "-c", str(tmp_path / "none.yml")])
    assert result.exit_code == 2
    assert "cannot read" in result.output


def test_handlers_from_configured_plugins_are_known(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "wk_plugin_validate.py").write_text(
        "from services.executor.handlers.base import Outcome\n"
        "from services.executor.handlers.registry import handler\n\n"
        "@handler('vacuum_ledger')\n"
        "async def vacuum_ledger(ctx, params):\n"
        "    return Outcome(message='ok')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = tmp_path / "p.yml"
    cfg.write_text("tasks: {v: {handler: vacuum_ledger}}\n")
    result = CliRunner().invoke(cli, ["validate", "-c", str(cfg)])
    assert result.exit_code == 2
    assert "tasks.v.handler (line 1): unknown handler 'vacuum_ledger'" in result.output
    cfg.write_text(
        "executor: {plugins: [wk_plugin_validate]}\ntasks: {v: {handler: vacuum_ledger}}\n"
    )
    result = CliRunner().invoke(cli, ["validate", "-c", str(cfg)])
    assert result.exit_code == 0, result.output


def test_missing_plugin_module_is_named(tmp_path: Path) -> None:
    cfg = tmp_path / "p.yml"
    cfg.write_text("executor: {plugins: [no_such_plugin_mod]}\n")
    result = CliRunner().invoke(cli, ["validate", "-c", str(cfg)])
    assert result.exit_code == 2
    assert "executor.plugins: cannot import 'no_such_plugin_mod'" in result.output
