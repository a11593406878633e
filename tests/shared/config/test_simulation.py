"""Schedule simulation (pure): windows, calendars (holidays, early closes), cooldown,
dependencies and capacity, decided by the scheduler's own planner."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from shared.config.loader import load_text
from shared.config.models import Config
from shared.config.simulation import simulate

WEEK = """
timezone: America/New_York
calendars:
  nyse:
    timezone: America/New_York
    sessions: {mon-fri: '09:30-16:00'}
    holidays: [2026-12-25]
    early_close: {2026-12-24: '13:00'}
windows:
  nightly: {days: [mon, tue, wed, thu, fri, sat, sun], hours: '01:00-05:00', max_concurrent: 1}
executor: {resource_groups: {database: 1}}
"""


def _config(tasks: str) -> Config:
    return load_text(WEEK + "tasks:\n" + tasks, env={}).config


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_calendar_holidays_and_early_closes_shape_the_fires() -> None:
    config = _config("  open_check: {handler: h, schedule: {every: 1h, during: nyse}}\n")
    sim = simulate(config, _utc("2026-12-24T00:00"), _utc("2026-12-26T23:59"))
    zone = ZoneInfo(config.timezone)
    local = [f.as_dict(zone)["local"][:16] for f in sim.fires]
    # Hourly on the hour inside sessions: the early close at 13:00 ends the 24th at
    # 12:00, Christmas is closed, the 26th is a Saturday.
    assert local == ["2026-12-24T10:00", "2026-12-24T11:00", "2026-12-24T12:00"]


def test_a_fire_outside_its_window_is_skipped_with_the_planners_reason() -> None:
    config = _config("  clean: {handler: h, schedule: {cron: '0 0,2 * * *'}, window: nightly}\n")
    sim = simulate(config, _utc("2026-12-21T00:00"), _utc("2026-12-21T23:59"))
    outcomes = [(f.at, f.outcome, f.cause) for f in sim.fires]
    assert outcomes == [
        (_utc("2026-12-21T05:00").timestamp(), "skipped", "window"),  # 00:00 New York
        (_utc("2026-12-21T07:00").timestamp(), "fired", None),  # 02:00 New York
    ]
    assert sim.fires[0].reason.startswith("outside window 'nightly'; it opens next at")


def test_window_capacity_and_resource_conflicts_are_marked() -> None:
    config = _config(
        "  a: {handler: h, schedule: {cron: '0 2 * * *'}, window: nightly, timeout: 30m}\n"
        "  b: {handler: h, schedule: {cron: '10 2 * * *'}, window: nightly}\n"
        "  c: {handler: h, schedule: {cron: '0 12 * * *'}, resources: [database]}\n"
        "  d: {handler: h, schedule: {cron: '1 12 * * *'}, resources: [database]}\n"
    )
    sim = simulate(config, _utc("2026-12-21T00:00"), _utc("2026-12-21T23:59"))
    kinds = [(c.kind, c.tasks) for c in sim.conflicts]
    assert kinds == [("window_capacity", ("a", "b")), ("resource", ("c", "d"))]
    marked = {f.task for f in sim.fires if f.conflicts}
    assert marked == {"b", "d"}  # the run that would wait
    assert "limit 1" in sim.conflicts[0].message


def test_dependencies_that_cannot_be_met() -> None:
    config = _config(
        "  up: {handler: h, schedule: {cron: '0 3 * * 1'}}\n"
        "  down: {handler: h, schedule: {cron: '0 4 * * *'}, depends_on: [up]}\n"
        "  orphan: {handler: h, schedule: {cron: '0 4 * * *'}, depends_on: [manual]}\n"
        "  manual: {handler: h}\n"
    )
    sim = simulate(config, _utc("2026-12-21T00:00"), _utc("2026-12-23T00:00"))
    down = [(f.outcome, f.cause) for f in sim.fires if f.task == "down"]
    assert down == [("fired", None), ("skipped", "dependency")]  # up runs Mondays only
    messages = [c.message for c in sim.conflicts]
    assert "orphan depends on 'manual', which has no schedule: it runs only when triggered" in (
        messages
    )
    assert any(m.startswith("down: upstream 'up' had not succeeded") for m in messages)


def test_paused_tasks_and_truncation() -> None:
    config = _config("  hc: {handler: h, schedule: {every: 1m}}\n")
    sim = simulate(config, _utc("2026-12-21T00:00"), _utc("2026-12-21T00:02"), paused={"hc"})
    assert [(f.outcome, f.cause) for f in sim.fires] == [("skipped", "paused")] * 3
    sim = simulate(config, _utc("2026-12-01T00:00"), _utc("2026-12-31T00:00"))
    assert sim.truncated and len(sim.fires) == 20_000
