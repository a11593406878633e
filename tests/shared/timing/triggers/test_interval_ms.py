"""The interval trigger's millisecond fast path agrees with its datetime contract."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from shared.timing.schedules import Schedule, next_slot
from shared.timing.triggers import IntervalTrigger, UnionTrigger

EPOCH_MS = st.integers(min_value=1_500_000_000_000, max_value=2_200_000_000_000)


def _slow(trigger: IntervalTrigger, after_ms: int) -> int:
    nxt = trigger.next_fire_after(datetime.fromtimestamp(after_ms / 1000, UTC))
    assert nxt is not None
    return round(nxt.timestamp() * 1000)


@given(
    every_us=st.integers(min_value=1_000, max_value=86_400_000_000),
    anchor_ms=st.none() | EPOCH_MS,
    after_ms=EPOCH_MS,
)
def test_next_after_ms_equals_next_fire_after(
    every_us: int, anchor_ms: int | None, after_ms: int
) -> None:
    anchor = None if anchor_ms is None else datetime.fromtimestamp(anchor_ms / 1000, UTC)
    trigger = IntervalTrigger(every_s=every_us / 1_000_000, anchor=anchor)
    assert trigger.next_after_ms(after_ms) == _slow(trigger, after_ms)


@given(
    every_s=st.lists(st.integers(min_value=1, max_value=3600), min_size=1, max_size=3),
    after_ms=EPOCH_MS,
)
def test_planning_uses_the_fast_path_for_unions_of_intervals(
    every_s: list[int], after_ms: int
) -> None:
    members = tuple(IntervalTrigger(every_s=e) for e in every_s)
    fast = Schedule(task="t", trigger=UnionTrigger(triggers=members), grace_s=0)
    assert next_slot(fast, after_ms) == min(_slow(m, after_ms) for m in members)
