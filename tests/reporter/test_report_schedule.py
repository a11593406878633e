"""Periodic reports: the daily one is made exactly once at 18:00 (configured zone) although
two reporters run, stored in Redis and as files, and announced as an info alert."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import timedelta
from pathlib import Path

from services.reporter.service import Reporter
from shared.contract.codec import decode
from shared.contract.events import AlertRaised
from shared.contract.keys import Keys
from shared.runtime.clock import FakeClock
from shared.runtime.redis import Redis
from tests.reporter.report_history import NOW, config, record_history


async def test_daily_report_made_once_at_1800_by_one_of_two_reporters(
    r: Redis, keys: Keys, tmp_path: Path
) -> None:
    await record_history(r, keys)
    cfg = config(keys.ns, dir=str(tmp_path), formats=["html", "json", "markdown"])
    clock = FakeClock(NOW - timedelta(minutes=1))  # 17:59 in New York
    a, b = Reporter(r, cfg, clock=clock, name="a"), Reporter(r, cfg, clock=clock, name="b")
    report_key = keys.report("daily", "2026-03-10")

    assert await asyncio.gather(a.reports.run_once(), b.reports.run_once()) == [[], []]
    assert not await r.exists(report_key)

    made: list[list[str]] = []
    for _ in range(3):  # 18:00, 18:01, 18:02: both replicas try every time
        clock.advance(60)
        made += await asyncio.gather(a.reports.run_once(), b.reports.run_once())
    assert sorted(made, key=len) == [[]] * 5 + [[report_key]]

    stored = json.loads(await r.get(report_key))
    assert (stored["kind"], stored["date"], stored["generated_at"]) == (
        "daily", "2026-03-10", "2026-03-10T18:00:00-04:00")  # fmt: skip
    files = sorted(os.listdir(tmp_path))
    assert files == ["daily-2026-03-10.html", "daily-2026-03-10.json", "daily-2026-03-10.md"]
    assert json.loads((tmp_path / "daily-2026-03-10.json").read_text()) == stored

    entries = await r.xrange(keys.alerts_stream)
    # the history's own alerts are on the stream too; the report's notice is one of a kind
    (notice,) = [e for e in (decode(f) for _, f in entries) if e.key.startswith("report.")]  # type: ignore[union-attr]
    assert isinstance(notice, AlertRaised)
    assert (notice.key, notice.severity) == ("report.daily", "info")
    assert notice.labels["path"] == str(tmp_path / "daily-2026-03-10.html")
    assert notice.labels["link"].startswith("file://") and notice.labels["date"] == "2026-03-10"
    assert "data_cleanup failed 1 of 1 run" in notice.message


async def test_a_claimed_report_is_left_to_its_claimant_and_old_ones_are_not_caught_up(
    r: Redis, keys: Keys, tmp_path: Path
) -> None:
    cfg = config(keys.ns, dir=str(tmp_path), formats=["json"])
    clock = FakeClock(NOW + timedelta(hours=7))  # 01:00 next day: the 18:00 report is stale
    reporter = Reporter(r, cfg, clock=clock)
    assert await reporter.reports.run_once() == []
    clock.set(NOW)
    await r.set(keys.report_claim("daily", "2026-03-10"), "another-replica")
    assert await reporter.reports.run_once() == []
    assert not await r.exists(keys.report("daily", "2026-03-10"))


async def test_an_unwritable_dir_still_stores_and_announces_the_report(
    r: Redis, keys: Keys, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cfg = config(keys.ns, dir=str(blocker / "reports"))
    reporter = Reporter(r, cfg, clock=FakeClock(NOW))
    assert await reporter.reports.run_once() == [keys.report("daily", "2026-03-10")]
    (notice,) = [decode(fields) for _, fields in await r.xrange(keys.alerts_stream)]
    assert isinstance(notice, AlertRaised) and "path" not in notice.labels


async def test_a_running_reporter_makes_the_due_report(
    r: Redis, keys: Keys, tmp_path: Path
) -> None:
    cfg = config(keys.ns, dir=str(tmp_path), formats=["json"])
    reporter, stop = Reporter(r, cfg, clock=FakeClock(NOW + timedelta(seconds=5))), asyncio.Event()
    serving = asyncio.create_task(reporter.run(stop))
    async with asyncio.timeout(10):
        while not await r.exists(keys.report("daily", "2026-03-10")):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    stop.set()
    await serving
    stored = json.loads(await r.get(keys.report("daily", "2026-03-10")))
    assert (stored["kind"], stored["date"]) == ("daily", "2026-03-10")
    assert json.loads((tmp_path / "daily-2026-03-10.json").read_text()) == stored
