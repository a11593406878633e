"""The lead of a large tick follows how long staging takes on this machine."""

from __future__ import annotations

import pytest

from services.scheduler.lookahead import (
    EARLY_S,
    PACE_DECAY,
    PACE_HEADROOM,
    PACE_MOST_S,
    PACE_SAMPLE,
    STAGE_S_PER_TASK,
    Ahead,
    StagePace,
)


def test_the_allowance_starts_at_the_floor_and_a_small_stage_teaches_nothing() -> None:
    pace = StagePace()
    assert pace.per_entry_s == STAGE_S_PER_TASK
    pace.observe(PACE_SAMPLE - 1, 10.0)  # a few entries: mostly round trips
    assert pace.per_entry_s == STAGE_S_PER_TASK


def test_a_slow_stage_raises_the_allowance_at_once() -> None:
    pace = StagePace()
    pace.observe(10_000, 2.0)  # 200 µs per entry, as seen on a slow host
    assert pace.per_entry_s == pytest.approx(PACE_HEADROOM * 200e-6)
    ahead = Ahead(at=100.0, count=10_000)
    assert ahead.lead_s(pace.per_entry_s) == pytest.approx(EARLY_S + 10_000 * 300e-6)
    assert ahead.lead_s() == pytest.approx(EARLY_S + 10_000 * STAGE_S_PER_TASK)


def test_fast_stages_lower_a_raised_allowance_slowly_and_never_below_the_floor() -> None:
    pace = StagePace()
    pace.observe(1_000, 5.0)  # 5 ms per entry: a stalled process
    raised = pace.per_entry_s
    assert raised == PACE_MOST_S  # the allowance is capped
    pace.observe(1_000, 0.001)
    assert pace.per_entry_s == pytest.approx(raised * PACE_DECAY)
    for _ in range(200):
        pace.observe(1_000, 0.001)
    assert pace.per_entry_s == STAGE_S_PER_TASK
