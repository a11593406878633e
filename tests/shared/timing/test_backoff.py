"""Capped exponential backoff with equal jitter."""

from __future__ import annotations

import pytest

from shared.timing.backoff import backoff_s


@pytest.mark.parametrize(
    ("failures", "rand", "expected"),
    [(0, 0.0, 0.025), (0, 0.999, 0.049975), (1, 0.0, 0.05), (3, 0.5, 0.3), (10, 0.0, 0.5),
     (10, 0.999, 0.9995), (50, 0.0, 0.5)],
)  # fmt: skip
def test_doubles_up_to_the_cap_with_jitter_in_the_upper_half(
    failures: int, rand: float, expected: float
) -> None:
    assert backoff_s(failures, first_s=0.05, cap_s=1.0, rand=rand) == pytest.approx(expected)
