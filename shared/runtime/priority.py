"""CPU priority of a service process that can wait (``nice``).

A reporter run on the same host as the run path (scheduler, executor, Redis) competes with
it for the cores. Given a lower priority, it reads its results when the run path leaves a
core free, in bigger batches: its cost per result falls (the fixed cost of a read, a record
call and an alert evaluation is shared by more results) and runs start sooner. Measured with
``bench/pipeline.py`` (split processes, 2 cores): ``docs/performance-history.md``, stop 20.
"""

from __future__ import annotations

import os

from shared.runtime.logging import get_logger

log = get_logger("watchkeeper.priority")


def lower(increment: int, *, service: str) -> int | None:
    """Add ``increment`` (0 leaves it alone) to this process' niceness; returns the
    niceness now, or None where the platform has no such setting or refused it (logged:
    the service runs on at its priority)."""
    if increment <= 0:
        return None
    try:
        niceness = os.nice(increment)
    except (AttributeError, OSError) as exc:  # no os.nice (Windows), or refused
        log.warning("service.priority_unchanged", service=service, error=str(exc))
        return None
    log.info("service.priority_lowered", service=service, nice=niceness)
    return niceness
