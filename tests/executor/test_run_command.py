"""``watchkeeper run TASK --wait`` through a real scheduler and executor, and pure helpers."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import yaml

from services.cli.run_cmd import format_plan, parse_params
from services.executor.guard import allowed_priorities
from services.executor.handlers.base import PlannedAction
from services.executor.semaphores import limits_for
from shared.contract.keys import Keys
from tests.executor.executor_support import executor_settings, make_due
from tests.support.processes import cli_env, kill_all, run_cli, spawn


@pytest.fixture
def stack(redis_url: str, keys: Keys, tmp_path: Path) -> Iterator[Path]:
    """A scheduler and an executor process sharing a config with two command tasks."""
    settings = executor_settings(tmp_path)
    settings["plugins"] = []
    body = {"namespace": keys.ns, "logging": {"json": True}, "executor": settings,
            "tasks": {"ok": {"handler": "command", "params": {"argv": ["true"]}},
                      "bad": {"handler": "command", "params": {"argv": ["false"]}},
                      "flaky": {"handler": "command", "params": {"argv": ["false"]},
                                "retries": {"max": 1, "backoff": 0}}}}  # fmt: skip
    config = tmp_path / "stack.yml"
    config.write_text(yaml.safe_dump(body))
    procs = [spawn(name, config, env=cli_env(redis_url)) for name in ("scheduler", "executor")]
    yield config
    kill_all(procs)


async def watchkeeper(config: Path, redis_url: str, *args: str) -> tuple[int, str]:
    return await run_cli(*args, "-c", str(config), env=cli_env(redis_url))


async def test_run_wait_reports_the_result_and_its_status(stack: Path, redis_url: str) -> None:
    code, out = await watchkeeper(stack, redis_url, "run", "ok", "--wait", "--timeout", "30")
    assert code == 0, out
    assert re.search(r"ok +succeeded .* true exited with 0", out), out
    code, out = await watchkeeper(stack, redis_url, "run", "bad", "--wait", "--timeout", "30")
    assert code == 1, out
    assert re.search(r"bad +failed .* command exited with 1", out), out
    assert "Error: 1 run(s) did not succeed: bad" in out


async def test_wait_follows_retries_to_the_final_result(stack: Path, redis_url: str) -> None:
    code, out = await watchkeeper(stack, redis_url, "run", "flaky", "--wait", "--timeout", "30",
                                  "-o", "json")  # fmt: skip
    assert code == 1, out
    result = json.loads(out[: out.rindex("}") + 1])
    assert (result["status"], result["attempt"], result["max_attempts"]) == ("failed", 2, 2)


async def test_watch_draws_progress_and_exits_with_the_result(stack: Path, redis_url: str) -> None:
    code, out = await watchkeeper(stack, redis_url, "run", "ok", "--watch", "--timeout", "30",
                                  "-o", "json")  # fmt: skip
    assert code == 0, out
    assert json.loads(out[out.index("{") : out.rindex("}") + 1])["status"] == "succeeded"


async def test_run_all_waits_for_every_enabled_task(stack: Path, redis_url: str) -> None:
    code, out = await watchkeeper(stack, redis_url, "apply")
    assert code == 0, out
    code, out = await watchkeeper(stack, redis_url, "run-all", "--wait", "--timeout", "30",
                                  "-o", "json")  # fmt: skip
    assert code == 1, out  # "bad" failed
    results = json.loads(out[out.index("[") : out.rindex("]") + 1])
    statuses = {r["task"]: r["status"] for r in results}
    assert statuses == {"bad": "failed", "flaky": "failed", "ok": "succeeded"}
    assert "2 run(s) did not succeed: bad, flaky" in out
    code, out = await watchkeeper(stack, redis_url, "run", "nope")
    assert code == 3, out


@pytest.mark.parametrize(
    ("cpu", "memory", "cpu_above", "memory_above", "expected"),
    [
        (10, 10, 80, 85, ("critical", "high", "normal", "low")),
        (90, 10, 80, 85, ("critical", "high")),
        (10, 90, 80, 85, ("critical", "high")),
        (99, 99, None, None, ("critical", "high", "normal", "low")),
        (80, 85, 80, 85, ("critical", "high", "normal", "low")),  # at the limit is not above
    ],
)
def test_guard_defers_only_normal_and_low(
    cpu: float, memory: float, cpu_above: float | None, memory_above: float | None,
    expected: tuple[str, ...],
) -> None:  # fmt: skip
    assert allowed_priorities(cpu, memory, cpu_above, memory_above) == expected


def test_limits_cover_max_instances_and_every_group() -> None:
    keys = Keys("ns")
    due = make_due(task="vacuum", max_instances=2, resources=["database", "disk"])
    assert limits_for(due, keys, {"database": 1}) == {
        keys.task_semaphore("vacuum"): 2,
        keys.group_semaphore("database"): 1,
        keys.group_semaphore("disk"): 1,  # unnamed in config: exclusive
    }
    assert limits_for(make_due(), keys, {}) == {}


def test_params_are_yaml_scalars() -> None:
    assert parse_params(("n=3", "dry=true", "paths=[a, b]", "s=x=y")) == {
        "n": 3, "dry": True, "paths": ["a", "b"], "s": "x=y",
    }  # fmt: skip
    with pytest.raises(click.BadParameter):
        parse_params(("novalue",))


def test_plan_lists_actions_and_total_bytes() -> None:
    actions = [
        PlannedAction(action="delete", path="/d/a.log", bytes=10),
        PlannedAction(action="compress", path="/d/b", detail="gzip"),
    ]
    text = format_plan("tidy", actions)
    assert text.splitlines() == [
        "tidy: 2 planned action(s), nothing done (dry run)",
        "  delete   /d/a.log  10 B",
        "  compress /d/b  gzip",
        "  total: 10 bytes",
    ]
