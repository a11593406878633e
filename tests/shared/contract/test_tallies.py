"""The lifetime counters' field names and the lateness sum as readers see it."""

from __future__ import annotations

import pytest

from shared.contract.tallies import decision_field, lateness_sum_s, split_decision


def test_the_lateness_sum_adds_whole_ms_to_what_earlier_versions_wrote_in_seconds() -> None:
    assert lateness_sum_s({"sum_ms": 720.0, "le_1": 3.0}) == pytest.approx(0.72)
    assert lateness_sum_s({"sum": 1.5, "count": 2.0, "sum_ms": 250.0}) == pytest.approx(1.75)
    assert lateness_sum_s({}) == 0.0


def test_a_decision_field_splits_back_even_when_the_task_holds_bars() -> None:
    field = decision_field("skipped", "window", "odd|task")
    assert split_decision(field) == ("skipped", "window", "odd|task")
    assert split_decision("no-bars") is None
