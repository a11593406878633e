"""Config loading: every error names its path (and line); env overrides and ${VAR}."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from shared.config.checks import DEFAULT_CHECKS, handler_check
from shared.config.loader import ConfigError, load_config, load_text

CHECKS = (*DEFAULT_CHECKS, handler_check({"system_health_check", "command"}))
EXAMPLE = Path(__file__).parents[3] / "examples" / "watchkeeper.yml"

BAD_CONFIGS = [
    (
        "tasks:\n  quick:\n    handler: command\n    overridable_params: [timeout_s, argv]\n",
        "tasks.quick.overridable_params (line 4): argv of a 'command' task can never be overridden",
    ),
    (
        "tasks:\n  backup:\n    handler: command\n    schedule: {cron: '0 25 * * *'}\n",
        (
            "tasks.backup.schedule.cron (line 4): "
            "'0 25 * * *' is not a valid cron expression (hour 25)"
        ),
    ),
    (
        (
            "tasks:\n  a:\n    handler: command\n    schedule:\n"
            "      - {every: 5m}\n      - {every: 5 parsecs}\n"
        ),
        "tasks.a.schedule[1].every (line 6)",
    ),
    (
        "tasks: {a: {handler: command, timeout: soon}}",
        "tasks.a.timeout (line 1): 'soon' is not a duration",
    ),
    (
        "tasks: {a: {handler: command, priority: urgent}}",
        "tasks.a.priority (line 1): Input should be 'critical', 'high', 'normal' or 'low'",
    ),
    (
        "tasks: {a: {handler: command, retries: {max: -1}}}",
        "tasks.a.retries.max (line 1): Input should be greater than or equal to 0",
    ),
    (
        "tasks: {a: {handler: command, overlap: maybe}}",
        "tasks.a.overlap (line 1): Input should be 'skip', 'queue' or 'allow'",
    ),
    ("tasks: {a: {handler: command, colour: red}}", "tasks.a.colour (line 1): unknown field"),
    ("tasks: {a: {schedule: {cron: '* * * * *'}}}", "tasks.a.handler (line 1): Field required"),
    ("tasks: {a: {handler: nope}}", "tasks.a.handler (line 1): unknown handler 'nope'"),
    (
        "tasks: {a: {handler: command, window: nightly}}",
        "tasks.a.window (line 1): unknown window 'nightly'",
    ),
    (
        "tasks: {a: {handler: command, depends_on: [b]}}",
        "tasks.a.depends_on[0] (line 1): unknown task 'b'",
    ),
    (
        "policies: [{when: {alert: system.disk}, run: [ghost]}]",
        "policies[0].run[0] (line 1): unknown task 'ghost'",
    ),
    ("timezone: Mars/Base", "timezone (line 1): unknown timezone 'Mars/Base'"),
    ("namespace: 'a b'", "namespace (line 1): namespace 'a b' must be letters"),
    (
        "executor: {max_concurrent: 0}",
        "executor.max_concurrent (line 1): Input should be greater than or equal to 1",
    ),
    ("api: {port: 70000}", "api.port (line 1): Input should be less than or equal to 65535"),
    (
        "alerts: {channels: [{type: pager}]}",
        (
            "alerts.channels[0].type (line 1): Input should be 'webhook', 'slack', 'pagerduty' "
            "or 'email'"
        ),
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), BAD_CONFIGS, ids=[e.split(" ")[0] for _, e in BAD_CONFIGS]
)
def test_bad_config_names_the_path(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_text(text, env={}, checks=CHECKS)
    assert expected in str(info.value)


def test_all_errors_are_reported_with_their_lines() -> None:
    text = textwrap.dedent(
        """\
        namespace: ok
        tasks:
          a:
            handler: command
            timeout: later
          b:
            handler: command
            priority: meh
        """
    )
    with pytest.raises(ConfigError) as info:
        load_text(text, env={}, checks=CHECKS)
    rendered = [str(issue) for issue in info.value.issues]
    assert any(r.startswith("tasks.a.timeout (line 5)") for r in rendered)
    assert any(r.startswith("tasks.b.priority (line 8)") for r in rendered)


def test_not_yaml_names_the_line() -> None:
    with pytest.raises(ConfigError, match=r"line 2: not valid YAML: while parsing a flow sequence"):
        load_text("a: 1\nb: [unclosed\n", env={})


def test_interpolation_and_defaults() -> None:
    text = "redis: {url: '${MY_REDIS}'}\ndatabase: {url: '${PG:-postgresql://x/y}'}\n"
    loaded = load_text(text, env={"MY_REDIS": "redis://h:1/0"})
    assert loaded.config.redis.url == "redis://h:1/0"
    assert loaded.config.database.url == "postgresql://x/y"
    assert loaded.warnings == []


def test_unset_variable_is_a_warning_and_empty_url_means_embedded() -> None:
    loaded = load_text("redis: {url: '${NOT_SET_ANYWHERE}'}\n", env={})
    assert loaded.config.redis.url is None
    (warning,) = loaded.warnings
    assert str(warning) == "redis.url (line 1): environment variable NOT_SET_ANYWHERE is not set"


def test_environment_overrides() -> None:
    env = {
        "REDIS_URL": "redis://elsewhere:6379/2",
        "DATABASE_URL": "postgresql://db/x",
        "WATCHKEEPER_API__PORT": "9191",
        "WATCHKEEPER_EXECUTOR__MAX_CONCURRENT": "8",
        "WATCHKEEPER_NAMESPACE": "{ops}",
    }
    config = load_text("api: {port: 8080}\n", env=env).config
    assert config.redis.url == "redis://elsewhere:6379/2"
    assert config.database.url == "postgresql://db/x"
    assert (config.api.port, config.executor.max_concurrent) == (9191, 8)
    assert config.namespace == "{ops}"


def test_the_commands_own_variables_are_not_config_overrides() -> None:
    # WATCHKEEPER_CONFIG names the file; read as an override it made every config invalid
    # ("config: unknown field") for anyone who set it.
    env = {"WATCHKEEPER_CONFIG": "/etc/wk.yml", "WATCHKEEPER_COLOR": "never"}
    assert load_text("namespace: ops\n", env=env).config.namespace == "ops"


def test_durations_and_defaults() -> None:
    config = load_text(
        "tasks: {a: {handler: command, timeout: 1h30m, cooldown: 90}}", env={}
    ).config
    task = config.tasks["a"]
    assert (task.timeout, task.cooldown, task.priority) == (5400.0, 90.0, "normal")
    assert config.executor.max_concurrent == 4
    assert config.alerts.cooldown == 900.0
    assert (config.reports.daily.at, config.reports.weekly.day) == ("18:00", "sun")


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read .*nope\.yml: No such file"):
        load_config(tmp_path / "nope.yml")


def test_example_config_validates() -> None:
    # handler names are checked against the real registry in tests/cli/test_examples.py
    loaded = load_config(EXAMPLE, env={}, checks=DEFAULT_CHECKS)
    assert "system_health_check" in loaded.config.tasks
    assert loaded.config.tasks["system_health_check"].emergency is True


def test_secrets_are_collected_for_redaction() -> None:
    text = (
        "api: {tokens: {ops: {token: s3cr3t-token, role: operator}}}\n"
        "alerts: {channels: [{type: webhook, url: 'http://x', secret: hush-hush}]}"
    )
    assert load_text(text, env={}).config.secrets() == ["s3cr3t-token", "hush-hush"]
