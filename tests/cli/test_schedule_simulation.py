"""`watchkeeper schedule --from/--to`: the schedule simulation from a terminal — for a
config file not yet applied (Redis never opened, nothing written) or for the running
deployment (definitions and paused tasks read from Redis) — with conflicts marked."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
import yaml
from click.testing import CliRunner

from services.cli.main import cli
from shared.config.loader import load_text
from shared.config.simulation import simulate
from shared.contract.keys import Keys
from shared.runtime.embedded import free_port
from tests.cli.conftest import Invoke, as_json
from tests.support.processes import cli_env, run_cli

DESK: dict[str, Any] = {
    "timezone": "America/New_York",
    "calendars": {"desk": {"timezone": "America/New_York", "sessions": {"mon-fri": "09:30-16:00"},
                           "holidays": ["2026-12-25"]}},
    "windows": {"nightly": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                            "hours": "01:00-05:00", "max_concurrent": 1}},
    "tasks": {
        "open_check": {"handler": "command", "params": {"argv": ["true"]},
                       "schedule": {"cron": "0 10 * * *", "during": "desk"}},
        "vacuum": {"handler": "command", "params": {"argv": ["true"]}, "window": "nightly",
                   "schedule": {"cron": "0 2 * * *"}, "timeout": "30m"},
        "backup": {"handler": "command", "params": {"argv": ["true"]}, "window": "nightly",
                   "schedule": {"cron": "0 2 * * *"}, "timeout": "30m"},
    },
}  # fmt: skip
RANGE = ("--from", "2026-12-21", "--to", "2026-12-28")


def _new_config(tmp_path: Path, keys: Keys) -> Path:
    path = tmp_path / "NEW.yml"
    path.write_text(yaml.safe_dump({"namespace": keys.ns, **DESK}))
    return path


async def test_a_config_not_applied_is_simulated_without_touching_redis(
    tmp_path: Path, keys: Keys
) -> None:
    new = _new_config(tmp_path, keys)
    dead = f"redis://127.0.0.1:{free_port()}"  # the file's tasks need no Redis at all
    code, out = await run_cli("schedule", "--config", str(new), *RANGE, "-o", "json",
                              env=cli_env(dead))  # fmt: skip
    assert code == 0, out
    data = json.loads(out)
    assert (data["from"], data["to"], data["timezone"]) == (
        "2026-12-21T00:00:00+00:00",
        "2026-12-28T00:00:00+00:00",
        "America/New_York",
    )
    opens = [f["local"][:10] for f in data["fires"] if f["task"] == "open_check"]
    assert opens == ["2026-12-21", "2026-12-22", "2026-12-23", "2026-12-24"]  # holiday, weekend
    nightly = [c for c in data["conflicts"] if c["kind"] == "window_capacity"]
    assert len(nightly) == 7 and nightly[0]["tasks"] == ["backup", "vacuum"]
    marked = [f for f in data["fires"] if f["conflicts"]]
    assert {f["task"] for f in marked} == {"vacuum"} and marked[0]["conflicts"] == [1]
    # The same answer the API gives: both print the one pure simulation.
    config = load_text(new.read_text(), env={}).config
    start, end = datetime(2026, 12, 21, tzinfo=UTC), datetime(2026, 12, 28, tzinfo=UTC)
    assert data == simulate(config, start, end).as_dict(start, end, config.timezone)


def test_nothing_is_written_and_the_table_marks_conflicts(
    tmp_path: Path, keys: Keys, sync_r: redis.Redis, redis_url: str
) -> None:
    new = _new_config(tmp_path, keys)
    result = CliRunner().invoke(cli, ["schedule", "-c", str(new), *RANGE],
                                env={"REDIS_URL": redis_url, "NO_COLOR": "1"})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "18 slots from 2026-12-21T00:00:00+00:00" in result.stdout
    assert "7 conflicts" in result.stdout and " !1" in result.stdout
    assert "!1 window_capacity at 2026-12-21T07:00:00+00:00: 2 runs at once" in result.stdout
    assert list(sync_r.scan_iter(match=f"{keys.ns}*")) == []


def test_the_running_deployment_reads_definitions_and_pauses_from_redis(
    wk: Invoke, sync_r: redis.Redis, keys: Keys, cfg: Path, redis_url: str
) -> None:
    assert wk("apply").exit_code == 0
    assert wk("tasks", "disable", "sweep").exit_code == 0
    sync_r.sadd(keys.schedule_paused, "health")
    before = sorted(sync_r.scan_iter(match=f"{keys.ns}*"))
    # Config found through WATCHKEEPER_CONFIG (no -c): the running tasks by default.
    result = CliRunner().invoke(
        cli, ["schedule", "--from", "2031-03-04T00:00", "--to", "2031-03-04T03:00", "--json"],
        env={"REDIS_URL": redis_url, "WATCHKEEPER_CONFIG": str(cfg)},
    )  # fmt: skip
    data = as_json(result)
    assert {f["task"] for f in data["fires"]} == {"health"}  # sweep is disabled in Redis
    assert {(f["outcome"], f["cause"]) for f in data["fires"]} == {("skipped", "paused")}
    assert [f["at"][11:16] for f in data["fires"]] == ["00:00", "01:00", "02:00", "03:00"]
    assert sorted(sync_r.scan_iter(match=f"{keys.ns}*")) == before
    # With -c the file's tasks are simulated unless --source running says otherwise.
    from_file = as_json(wk("schedule", "--from", "2031-03-04T00:00", "--to",
                           "2031-03-04T03:00", "-o", "json"))  # fmt: skip
    assert {f["task"] for f in from_file["fires"]} == {"health", "sweep"}
    running = as_json(wk("schedule", "--source", "running", "--from", "2031-03-04T00:00",
                         "--to", "2031-03-04T03:00", "-o", "json"))  # fmt: skip
    assert running == data


def test_bad_ranges_are_usage_errors(wk: Invoke) -> None:
    cases = {
        ("--from", "2026-12-28", "--to", "2026-12-21"): "must be after 'from'",
        ("--from", "2026-01-01", "--to", "2026-03-01"): "at most 31 days",
        ("--from", "next tuesday"): "is not ISO 8601",
        ("--hours", "3", "--from", "2026-12-21"): "--hours or --from/--to",
    }
    for args, message in cases.items():
        result = wk("schedule", *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr, result.stderr
