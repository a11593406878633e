"""A run's steps and artifacts: recorded as it goes, kept in the result's details."""

from __future__ import annotations

import weakref
from pathlib import Path

import pytest

from services.executor.handlers.base import RunContext
from services.executor.handlers.steps import Artifacts, StepLog
from services.executor.service import Executor
from shared.contract.keys import Keys
from shared.runtime.clock import FakeClock
from shared.runtime.redis import Redis
from tests.executor.executor_support import make_config, make_due, publish_due, wait_results


def _read(path: str) -> bytes:
    return Path(path).read_bytes()


async def _run(r: Redis, keys: Keys, tmp_path: Path, **params: object) -> dict[str, object]:
    executor = Executor(r, make_config(keys, tmp_path))
    await executor.start()
    due = make_due("t_steps", params=params)
    await publish_due(r, keys, due)
    await executor.run_once(block_ms=20)
    (result,) = await wait_results(r, keys, 1, 10)
    await executor.drain(1)
    return {"status": result.status, "details": result.details, "message": result.message}


async def test_steps_and_artifacts_reach_the_result(r: Redis, keys: Keys, tmp_path: Path) -> None:
    got = await _run(r, keys, tmp_path)
    details = got["details"]
    assert isinstance(details, dict)
    steps = details["steps"]
    assert [(s["name"], s["status"]) for s in steps] == [
        ("scan", "succeeded"), ("report", "succeeded"), ("notify", "skipped"),
    ]  # fmt: skip
    assert steps[0]["counts"] == {"files": 3, "bytes": 300}
    assert steps[0]["message"] == "3 files"
    (artifact,) = details["artifacts"]
    assert _read(artifact) == b'{"findings": 2}'
    assert Path(artifact).is_relative_to(tmp_path / "artifacts")


async def test_a_failing_step_is_recorded_and_the_run_fails(
    r: Redis, keys: Keys, tmp_path: Path
) -> None:
    got = await _run(r, keys, tmp_path, fail_in="report")
    assert got["status"] == "failed"
    details = got["details"]
    assert isinstance(details, dict)
    assert [(s["name"], s["status"], s["message"]) for s in details["steps"]] == [
        ("scan", "succeeded", "3 files"), ("report", "failed", "report broke"),
    ]  # fmt: skip
    assert len(details["artifacts"]) == 1  # kept: what a failed run produced helps most


async def test_step_durations_come_from_the_clock() -> None:
    clock = FakeClock()
    notes: list[str] = []

    async def note(text: str) -> None:
        notes.append(text)

    log = StepLog(clock, note)
    async with log.step("vacuum"):
        clock.advance(2.5)
    assert log.as_list()[0]["duration_s"] == 2.5
    assert notes == ["step vacuum: running", "step vacuum: succeeded"]


@pytest.mark.parametrize("name", ["../x", "a/b", "", ".hidden", "x\x00y", "x\n"])
def test_artifact_names_must_be_plain_file_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="plain file name"):
        Artifacts(tmp_path, "task:1").save(name, b"x")
    assert not any(tmp_path.rglob("*"))


async def test_steps_report_progress_and_a_context_is_freed_without_the_cycle_collector() -> None:
    notes: list[tuple[float, float | None, str]] = []

    async def sink(done: float, total: float | None, note: str) -> None:
        notes.append((done, total, note))

    ctx = RunContext(run_id="r1", task="t", attempt=1, clock=FakeClock(0.0), log=None,
                     progress_sink=sink)  # fmt: skip
    async with ctx.step("scan"):
        pass
    assert notes == [(1, None, "step scan: running"), (1, None, "step scan: succeeded")]
    gone = weakref.ref(ctx)
    del ctx
    assert gone() is None  # no reference cycle: every run's context goes at once
