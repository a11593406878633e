"""Capped exponential backoff with jitter (pure: the caller supplies the randomness)."""

from __future__ import annotations


def backoff_s(failures: int, *, first_s: float, cap_s: float, rand: float) -> float:
    """The wait after ``failures`` failures in a row (0 for the first retry).

    ``first_s`` doubles with each failure up to ``cap_s``; ``rand`` in ``[0, 1)`` spreads
    the second half of that span ("equal jitter"), so replicas retrying the same outage do
    not all hit the server in the same instant, yet none retries in a hot loop.
    """
    span = min(cap_s, first_s * 2.0 ** max(0, failures))
    return span / 2 + span / 2 * rand
