"""The event-built YAML data equals PyYAML's safe loading; other files take the node path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shared.config.loader import ConfigError, load_text
from shared.config.yaml_data import NeedsNodes, load_data

ROOT = Path(__file__).parents[3]
PLAIN = [
    "",
    "a: 1",
    "a: [1, 2.5, true, null, '3', 2024-01-01, 2024-01-01T10:00:00Z, 0x1f, .inf, 1_000]",
    "- x\n- {y: z}\n- [[], {}]",
    "x: ~\ny: yes\nz: !!str 5\n'q': \"w\"",
    "tasks:\n  a:\n    handler: command\n    schedule: {weekly: [mon], at: '10:00'}\n",
]
NODE_ONLY = [
    "a: &x 1\nb: *x",
    "base: &b {timeout: 5m}\ntask: {<<: *b, handler: command}",
    "a: !custom 5",
    "a: 1\n---\nb: 2",
    "a: [",
    "? [1, 2]\n: x",
]


@pytest.mark.parametrize("text", PLAIN)
def test_plain_files_give_pyyamls_data(text: str) -> None:
    assert load_data(text) == yaml.safe_load(text)


def test_every_yaml_file_of_the_repo_gives_pyyamls_data_or_takes_the_node_path() -> None:
    files = [p for p in ROOT.glob("**/*.y*ml") if ".venv" not in p.parts]
    assert files
    for path in files:
        text = path.read_text()
        try:
            data = load_data(text)
        except NeedsNodes:
            continue
        assert data == yaml.safe_load(text), path


@pytest.mark.parametrize("text", NODE_ONLY)
def test_anchors_tags_several_documents_and_errors_take_the_node_path(text: str) -> None:
    with pytest.raises(NeedsNodes):
        load_data(text)


def test_the_loader_still_reads_anchors_and_merge_keys() -> None:
    text = (
        "x-defaults: &d {handler: command, timeout: 5m}\n"
        "tasks: {a: {<<: *d, params: {argv: ['true']}}}\n"
    )
    # A top-level key that is no config field is an error, but the merge must have worked.
    with pytest.raises(ConfigError, match="x-defaults"):
        load_text(text, env={})
    merged = load_text("tasks: {a: &a {handler: command, timeout: 5m}, b: *a}", env={})
    assert merged.config.tasks["b"].timeout == 300.0


def test_errors_of_a_task_after_valid_ones_keep_their_path_and_line() -> None:
    tasks = "".join(f"  t{i}: {{handler: command}}\n" for i in range(5))
    text = f"tasks:\n{tasks}  bad: {{handler: command, timeout: soon}}\n  worse: 5\n"
    with pytest.raises(ConfigError) as info:
        load_text(text, env={})
    rendered = [str(issue) for issue in info.value.issues]
    assert rendered[0].startswith("tasks.bad.timeout (line 7): 'soon' is not a duration")
    assert rendered[1].startswith("tasks.worse (line 8)")


def test_interpolation_reaches_nested_lists() -> None:
    text = "tasks: {a: {handler: command, params: {argv: ['${BIN}', '-x', '${NOPE:-d}']}}}"
    loaded = load_text(text, env={"BIN": "/bin/true"})
    assert loaded.config.tasks["a"].params["argv"] == ["/bin/true", "-x", "d"]
