"""`watchkeeper apply` syncs definitions; `watchkeeper trigger` makes an emergency run."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest
import redis
import yaml
from click.testing import CliRunner

from services.cli.main import cli
from shared.contract.keys import Keys
from tests.support.processes import WATCHKEEPER, cli_env, kill_all, spawn


def _config(tmp_path: Path, keys: Keys, tasks: dict[str, object]) -> Path:
    path = tmp_path / "wk.yml"
    path.write_text(yaml.safe_dump({"namespace": keys.ns, "tasks": tasks}))
    return path


def test_apply_creates_updates_and_prunes(tmp_path: Path, keys: Keys, redis_url: str) -> None:
    env = {"REDIS_URL": redis_url}
    runner = CliRunner()
    cfg = _config(tmp_path, keys, {"a": {"handler": "command", "params": {"argv": ["true"]}},
                                   "b": {"handler": "system_health_check"}})  # fmt: skip
    result = runner.invoke(cli, ["apply", "-c", str(cfg)], env=env)
    assert result.exit_code == 0, result.output
    assert "2 created, 0 updated, 0 deleted (2 tasks)" in result.output
    cfg = _config(tmp_path, keys, {"a": {"handler": "command", "params": {"argv": ["false"]}}})
    result = runner.invoke(cli, ["apply", "-c", str(cfg)], env=env)
    assert "0 created, 1 updated, 1 deleted (2 tasks)" in result.output
    client = redis.Redis.from_url(redis_url)
    assert client.hkeys(keys.taskdefs) == [b"a"]
    assert b'"false"' in client.hget(keys.taskdefs, "a")
    client.close()


def test_apply_without_redis_is_a_clear_error(tmp_path: Path, keys: Keys) -> None:
    cfg = _config(tmp_path, keys, {})
    result = CliRunner().invoke(
        cli, ["apply", "-c", str(cfg)], env={"REDIS_URL": "redis://127.0.0.1:1"}
    )
    assert result.exit_code == 4  # unreachable
    assert "cannot reach Redis at redis://127.0.0.1:1" in result.output


@pytest.fixture
def stack(tmp_path: Path, keys: Keys, redis_url: str) -> Iterator[Path]:
    cfg = _config(tmp_path, keys, {
        "hc": {"handler": "system_health_check", "emergency": True, "window": "never",
               "params": {"cpu_sample_s": 0.05}},
        "plain": {"handler": "system_health_check"},
    })  # fmt: skip
    body = yaml.safe_load(cfg.read_text())
    body["windows"] = {"never": {"days": ["mon"], "hours": "00:00-00:01", "start": "2001-01-01",
                                 "end": "2001-01-02"}}  # fmt: skip
    cfg.write_text(yaml.safe_dump(body))
    procs = [spawn(n, cfg, env=cli_env(redis_url), cwd=tmp_path) for n in ("scheduler", "executor")]
    yield cfg
    kill_all(procs)


def _cli(cfg: Path, redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WATCHKEEPER, *args, "-c", str(cfg)],
        env=cli_env(redis_url), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_emergency_trigger_bypasses_the_window(stack: Path, redis_url: str, keys: Keys) -> None:
    done = _cli(stack, redis_url, "trigger", "hc", "--reason", "disk alarm", "--wait",
                "--timeout", "30", "-o", "json")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["status"] == "succeeded"
    client = redis.Redis.from_url(redis_url)
    ((_, fields),) = client.xrange(keys.due("critical"))
    due = msgpack.unpackb(fields[b"body"])
    assert (due["trigger"], due["reason"], due["priority"]) == (
        "emergency",
        "disk alarm",
        "critical",
    )
    client.close()


def test_emergency_trigger_refused_for_a_task_that_does_not_allow_it(
    stack: Path, redis_url: str
) -> None:
    done = _cli(stack, redis_url, "trigger", "plain", "--reason", "why not")
    assert done.returncode == 2  # a usage error: the config says no
    assert "does not allow emergency runs (emergency: false)" in done.stderr


def test_a_standalone_scheduler_never_deletes_tasks_made_elsewhere(
    tmp_path: Path, keys: Keys, redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.hset(
        keys.taskdefs, "made_by_api", '{"handler": "command", "params": {"argv": ["true"]}}'
    )
    cfg = _config(tmp_path, keys, {"from_file": {"handler": "system_health_check"}})
    proc = spawn("scheduler", cfg, env=cli_env(redis_url), cwd=tmp_path)
    try:
        deadline = time.monotonic() + 20
        while not client.hexists(keys.taskdefs, "from_file") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(client.hkeys(keys.taskdefs)) == [b"from_file", b"made_by_api"]
    finally:
        kill_all([proc])
        client.close()
