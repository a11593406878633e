"""The schedule maths refuses instants outside its range with a clear error (never an
OverflowError from deep inside a trigger) and ends a schedule at the range's end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.timing.schedules import LATEST, InstantOutOfRange, Schedule, next_slot
from shared.timing.trigger_spec import parse_schedule

SPECS = [{"cron": "0 2 * * *"}, {"every": "5m"}, {"daily": "02:00"},
         {"weekly": ["sun"], "at": "01:00"}, {"hourly": 5}, {"cron": "0 0 29 2 *"}]  # fmt: skip


def _schedule(spec: dict[str, object]) -> Schedule:
    return Schedule(
        task="t", trigger=parse_schedule(spec, default_tz="UTC", calendars={}), grace_s=0.0
    )


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize(
    "after", [datetime(9999, 12, 31, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
              datetime(1, 1, 1, tzinfo=UTC), LATEST + timedelta(seconds=1)],
)  # fmt: skip
def test_out_of_range_instants_are_refused_by_name(
    spec: dict[str, object], after: datetime
) -> None:
    with pytest.raises(InstantOutOfRange, match="outside the supported range 1970-01-01 to 9000"):
        next_slot(_schedule(spec), after.timestamp() * 1000)


@pytest.mark.parametrize("spec", SPECS)
def test_a_schedule_ends_at_the_end_of_the_range(spec: dict[str, object]) -> None:
    s = _schedule(spec)
    slot = next_slot(s, datetime(8999, 12, 1, tzinfo=UTC).timestamp() * 1000)
    while slot is not None:
        assert slot <= LATEST.timestamp() * 1000
        slot = next_slot(s, slot)
