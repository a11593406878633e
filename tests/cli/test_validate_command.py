"""`watchkeeper validate`: exit 0 for a good file, 1 with every error listed."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from services.cli.main import cli

EXAMPLE = Path(__file__).parents[2] / "examples" / "watchkeeper.yml"


def test_example_is_valid() -> None:
    result = CliRunner().invoke(cli, ["validate", "-c", str(EXAMPLE)], env={"REDIS_URL": ""})
    assert result.exit_code == 0, result.output
    assert "valid (3 tasks)" in result.output


def test_every_error_is_listed_with_path_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "tasks:\n"
        "  a: {handler: command, timeout: whenever}\n"
        "  b: {handler: unheard_of}\n"
        "  c: {handler: command, depends_on: [zzz]}\n"
    )
    result = CliRunner().invoke(cli, ["validate", "-c", str(bad)])
    assert result.exit_code == 1
    assert "tasks.a.timeout (line 2): 'whenever' is not a duration" in result.output
    # reference checks run once the models are valid; fix a and see b and c
    bad.write_text(
        "tasks:\n  b: {handler: unheard_of}\n  c: {handler: command, depends_on: [zzz]}\n"
    )
    result = CliRunner().invoke(cli, ["validate", "-c", str(bad)])
    assert result.exit_code == 1
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
    assert result.exit_code == 1
    assert "cannot read" in result.output
