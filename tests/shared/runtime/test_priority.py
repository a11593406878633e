"""A reporter run alone yields the CPU to the run path (``reporter.nice``); services run
on uvloop."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from shared.contract.keys import REPORTER_GROUP, Keys
from shared.runtime.redis import Redis
from tests.support.processes import ROOT, cli_env, kill_all, spawn


def _niceness_after(increment: int) -> tuple[int, int | None, int]:
    """(niceness before, what lower() returned, niceness after) in a process of its own
    (a lowered priority cannot be raised back without privileges)."""
    code = ("import json, os; from shared.runtime.priority import lower; "
            f"before = os.nice(0); got = lower({increment}, service='t'); "
            "print(json.dumps([before, got, os.nice(0)]))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=cli_env(),
                         capture_output=True, text=True, check=True)  # fmt: skip
    before, got, after = json.loads(out.stdout.splitlines()[-1])
    return before, got, after


def test_lower_adds_to_the_niceness_and_zero_leaves_it() -> None:
    before, got, after = _niceness_after(7)
    assert got == after == min(before + 7, 19)
    before, got, after = _niceness_after(0)
    assert got is None and after == before


async def _serving(r: Redis, keys: Keys, proc: subprocess.Popen[bytes]) -> None:
    """Until the reporter created its group (its priority was set before its loop ran)."""
    async with asyncio.timeout(40):
        while not await _has_group(r, keys):
            assert proc.poll() is None, f"the reporter exited with {proc.returncode}"
            await asyncio.sleep(0.05)


async def _has_group(r: Redis, keys: Keys) -> bool:
    if not await r.exists(keys.results):
        return False
    groups: Any = await r.xinfo_groups(keys.results)
    return any(g["name"] == REPORTER_GROUP.encode() for g in groups)


@pytest.mark.parametrize(("setting", "expected"), [(None, 10), (0, 0), (4, 4)])
async def test_a_reporter_alone_runs_on_uvloop_at_its_configured_niceness(
    tmp_path: Path, redis_url: str, r: Redis, keys: Keys, setting: int | None, expected: int
) -> None:
    config: dict[str, object] = {"namespace": keys.ns, "logging": {"json": True}}
    if setting is not None:
        config["reporter"] = {"nice": setting}
    path = tmp_path / "wk.yml"
    path.write_text(yaml.safe_dump(config))
    log = tmp_path / "reporter.log"
    base = psutil.Process().nice()
    with log.open("wb") as out:
        proc = spawn("reporter", path, env=cli_env(redis_url), stdout=out,
                     stderr=subprocess.STDOUT)  # fmt: skip
    try:
        await _serving(r, keys, proc)
        assert psutil.Process(proc.pid).nice() == min(base + expected, 19)
        logged = [json.loads(line) for line in log.read_text().splitlines()
                  if line.startswith("{")]  # fmt: skip
        lowered = [e["nice"] for e in logged if e["event"] == "service.priority_lowered"]
        assert lowered == ([] if expected == 0 else [base + expected])
        (starting,) = [e for e in logged if e["event"] == "services.starting"]
        assert starting["loop"] == "uvloop.Loop" and starting["services"] == ["reporter"]
    finally:
        kill_all([proc])
