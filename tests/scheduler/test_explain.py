"""``watchkeeper explain`` tells the whole story of a task from its one decision stream."""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml
from click.testing import CliRunner

from services.cli.main import cli
from shared.contract.codec import encode
from shared.contract.decisions import Cause, Outcome, recent
from shared.contract.events import TaskPaused, TaskResumed, TriggerEmergency
from shared.contract.keys import Keys
from shared.runtime.clock import FakeClock
from shared.runtime.redis import Redis
from tests.scheduler.sched_support import T0, make

WINDOWS = {"day": {"hours": "09:00-17:00", "timezone": "UTC"}}
TASK = {"schedule": {"every": "1h"}, "window": "day", "timeout": "2h",
        "params": {"argv": ["true"]}}  # fmt: skip
WINDOW_SKIP = (
    "was skipped — window: outside window 'day'; it opens next at 2027-01-15T09:00:00+00:00"
)
OVERLAP_SKIP = "was skipped — overlap: max_instances reached: another instance is running"


async def test_window_pause_busy_and_refused_emergency_one_line_each(
    r: Redis, keys: Keys, redis_url: str, tmp_path: Path
) -> None:
    clock = FakeClock(T0 - 1)  # T0 is 08:00 UTC, before the window opens
    s = await make(r, keys, clock, {"a": TASK}, windows=WINDOWS)
    await s.run_once()
    clock.advance(1)
    await s.run_once()  # 08:00: outside the window
    await r.xadd(keys.control, encode(TaskPaused(task="a")))  # type: ignore[arg-type]
    clock.advance(3600)
    await s.run_once()  # 09:00: paused
    await r.xadd(keys.control, encode(TaskResumed(task="a")))  # type: ignore[arg-type]
    clock.advance(3600)
    await s.run_once()  # 10:00: fires; the run takes longer than an hour
    clock.advance(3600)
    await s.run_once()  # 11:00: busy, max_instances 1
    await r.xadd(keys.triggers, encode(TriggerEmergency(task="a", reason="disk")))  # type: ignore[arg-type]
    await s.run_once()  # refused: the task does not allow emergencies

    story = [(d.outcome, d.cause) for d in await recent(r, keys, "a")]
    assert story == [
        (Outcome.SKIPPED, Cause.WINDOW), (Outcome.SKIPPED, Cause.PAUSED), (Outcome.FIRED, None),
        (Outcome.SKIPPED, Cause.OVERLAP), (Outcome.REFUSED, Cause.NOT_ALLOWED),
    ]  # fmt: skip

    config = tmp_path / "wk.yml"
    config.write_text(yaml.safe_dump({"namespace": keys.ns, "windows": WINDOWS, "tasks": {}}))
    result = await asyncio.to_thread(
        CliRunner().invoke, cli, ["explain", "a", "-c", str(config)], env={"REDIS_URL": redis_url}
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:4] == [
        f"{at}  slot {at} {what}"
        for at, what in [
            ("2027-01-15 08:00:00.000Z", WINDOW_SKIP),
            ("2027-01-15 09:00:00.000Z", "was skipped — paused: the task is paused"),
            ("2027-01-15 10:00:00.000Z", "fired — emitted (run a:1800007200000)"),
            ("2027-01-15 11:00:00.000Z", OVERLAP_SKIP),
        ]
    ]  # fmt: skip
    assert len(lines) == 5
    assert lines[4].startswith("2027-01-15 11:00:00.000Z  slot e")
    assert lines[4].endswith(
        "was refused — not_allowed: task 'a' does not allow emergency runs (emergency: false) "
        "(emergency run)"
    )
