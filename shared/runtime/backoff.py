"""Reconnect pacing: capped exponential backoff with jitter.

Every service retries Redis the same way, so after an outage the whole deployment is
back within about :data:`MAX_BACKOFF_S` of Redis answering again, and replicas that
lost Redis together do not all knock at the same instant.
"""

from __future__ import annotations

import random
from typing import Final

FIRST_BACKOFF_S: Final = 0.05
"""First wait after a failure."""
MAX_BACKOFF_S: Final = 1.0
"""Longest wait between two tries while Redis is unreachable."""


def next_delay(delay: float) -> float:
    """The delay after ``delay`` failed again: doubled, capped at :data:`MAX_BACKOFF_S`."""
    return min(delay * 2, MAX_BACKOFF_S)


def jittered(delay: float) -> float:
    """A wait between ``delay / 2`` and ``delay`` ("equal jitter")."""
    return delay / 2 + random.uniform(0, delay / 2)
