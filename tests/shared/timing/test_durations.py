"""Duration parsing: the accepted spellings and the errors for everything else."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.timing.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("90s", 90.0),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("7d", 604800.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        ("500ms", 0.5),
        ("1w", 604800.0),
        ("90", 90.0),
        ("1H 30M", 5400.0),
        (90, 90.0),
        (1.5, 1.5),
        (0, 0.0),
        ("0s", 0.0),
    ],
)
def test_accepted(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "'' is not a duration"),
        ("5x", "'5x' is not a duration"),
        ("-5s", "'-5s' is not a duration"),
        ("1m1h", "largest first"),
        ("5m5m", "largest first"),
        ("h", "'h' is not a duration"),
        (True, "True is not a duration"),
        (None, "None is not a duration"),
        (-1, "must be a finite number >= 0"),
        (float("inf"), "must be a finite number >= 0"),
        (float("nan"), "must be a finite number >= 0"),
    ],
)
def test_rejected_with_the_bad_text(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        parse_duration(value)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10 * 86_400))
def test_format_round_trips(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds
