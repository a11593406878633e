"""``watchkeeper --api URL`` for tasks and runs: the same output as on Redis.

``run --wait`` goes through a real scheduler and executor. Errors keep their exit codes:
a refused token is 5, an unreachable API 4, an unknown task 3.
"""

from __future__ import annotations

import json
from typing import Any

from click.testing import Result

from shared.runtime.embedded import free_port
from tests.cli.api_mode.conftest import ADMIN, both
from tests.cli.conftest import Invoke, as_json


def test_tasks_list_and_show_print_the_same_json_either_way(wk: Invoke, api: str) -> None:
    direct, via_api = both(wk, api, "tasks", "list", "-o", "json")
    assert [t["name"] for t in direct] == ["broken", "health", "manual", "sweep"]
    assert via_api == direct
    direct, via_api = both(wk, api, "tasks", "show", "sweep", "-o", "json")
    assert direct["next_fires"] and direct["definition"]["handler"] == "command"
    assert via_api == direct


def test_mutations_through_the_api_change_what_redis_shows(wk: Invoke, api: str) -> None:
    def state(task: str) -> dict[str, Any]:
        shown: dict[str, Any] = as_json(wk("tasks", "show", task, "-o", "json"))
        return shown

    done = wk("--api", api, "tasks", "disable", "sweep", env=ADMIN)
    assert done.exit_code == 0, done.output
    assert done.stdout == "sweep: disabled\n"
    assert state("sweep")["enabled"] is False
    assert wk("--api", api, "tasks", "enable", "sweep", env=ADMIN).exit_code == 0
    assert state("sweep")["enabled"] is True
    assert wk("--api", api, "tasks", "delete", "manual", "--yes", env=ADMIN).exit_code == 0
    assert wk("tasks", "show", "manual").exit_code == 3
    paused = wk("--api", api, "pause", "health", "--reason", "maintenance", env=ADMIN)
    assert paused.exit_code == 0 and paused.stdout == "pause requested for health\n"


def test_a_missing_or_weak_token_exits_5_with_a_clear_message(wk: Invoke, api: str) -> None:
    missing = wk("--api", api, "tasks", "list")
    assert missing.exit_code == 5
    assert "WATCHKEEPER_TOKEN" in missing.stderr
    weak = wk("--api", api, "tasks", "disable", "sweep", env={"WATCHKEEPER_TOKEN": "v-token"})
    assert weak.exit_code == 5
    assert "operator" in weak.stderr
    wrong = wk("--api", api, "--token", "nope", "tasks", "list")
    assert wrong.exit_code == 5 and "token refused" in wrong.stderr
    assert "nope" not in wrong.output + wrong.stderr


def test_an_unknown_task_exits_3_either_way(wk: Invoke, api: str) -> None:
    for prefix in ((), ("--api", api)):
        for args in (("tasks", "show", "nope"), ("tasks", "enable", "nope"), ("run", "nope")):
            result = wk(*prefix, *args, env=ADMIN)
            assert result.exit_code == 3, (prefix, args, result.output)
            assert "nope" in result.stderr


def test_an_unreachable_api_exits_4(wk: Invoke) -> None:
    result = wk("--api", f"http://127.0.0.1:{free_port()}", "tasks", "list", env=ADMIN)
    assert result.exit_code == 4
    assert "cannot reach the API" in result.stderr


def test_api_from_the_environment_and_local_only_commands_refuse_it(wk: Invoke, api: str) -> None:
    listed = wk("tasks", "list", "-o", "json", env=ADMIN | {"WATCHKEEPER_API": api})
    assert len(as_json(listed)) == 4
    # Reading Redis silently when the API was asked for would hide which one answered.
    for args in (("apply",), ("cleanup", "--dry-run"), ("healthcheck",), ("up",), ("executor",)):
        refused = wk("--api", api, *args, env=ADMIN)
        assert refused.exit_code == 2, (args, refused.output)
        assert f"{args[0]}` works on Redis directly, never through the API" in refused.stderr
        assert "local only: up and the services, apply, cleanup, healthcheck" in refused.stderr


def _result_shape(result: Result) -> tuple[int, Any]:
    body = json.loads(result.stdout)
    return result.exit_code, (body["task"], body["status"], sorted(body))


def test_run_wait_gives_the_same_result_either_way_and_exits_1_on_failure(
    wk: Invoke, stack: str
) -> None:
    direct = wk("run", "health", "--wait", "--timeout", "60", "-o", "json")
    via_api = wk("--api", stack, "run", "health", "--wait", "--timeout", "60", "-o", "json",
                 env=ADMIN)  # fmt: skip
    assert _result_shape(via_api) == _result_shape(direct)
    assert _result_shape(direct)[1][1] == "succeeded"
    failed = wk("--api", stack, "run", "broken", "--wait", "--timeout", "60", "-o", "json",
                env=ADMIN)  # fmt: skip
    assert failed.exit_code == 1
    assert json.loads(failed.stdout)["status"] == "failed"
    assert "did not succeed: broken" in failed.stderr


def test_run_without_wait_and_run_all_report_requests_either_way(wk: Invoke, api: str) -> None:
    direct, via_api = (
        as_json(wk(*prefix, "run", "sweep", "-o", "json", env=ADMIN))
        for prefix in ((), ("--api", api))
    )
    assert sorted(direct) == sorted(via_api) == ["correlation_id", "status", "task"]
    assert (via_api["task"], via_api["status"]) == ("sweep", "requested")
    rows = [as_json(wk(*prefix, "run-all", "-o", "json", env=ADMIN))
            for prefix in ((), ("--api", api))]  # fmt: skip
    direct_rows, api_rows = ([(q["task"], q["status"]) for q in r] for r in rows)
    assert api_rows == direct_rows
    assert len(rows[1]) == 4


def test_trigger_goes_through_the_emergency_route(wk: Invoke, stack: str) -> None:
    done = wk("--api", stack, "trigger", "health", "--reason", "disk alarm", "--wait",
              "--timeout", "60", "-o", "json", env=ADMIN)  # fmt: skip
    assert done.exit_code == 0, done.output
    body = json.loads(done.stdout)
    assert (body["task"], body["trigger"], body["status"]) == ("health", "emergency", "succeeded")
