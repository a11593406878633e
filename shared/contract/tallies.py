"""Lifetime counters kept for ``/metrics``: they only ever grow (no TTL, no trimming).

The daily metrics hashes expire with retention, so a sum over them would shrink and
look like a counter reset to Prometheus. These hashes never shrink:

- ``{ns}:totals`` — written by the reporter in the same once-per-``run_id``+``attempt``
  batch as the read model: per task, one counter per status, the duration histogram
  (:data:`~shared.contract.readmodel.BUCKET_LABELS`), ``runs`` and ``duration_sum``.
  Field ``<name>|<task>`` (:func:`total_field`).
- ``{ns}:counter:decisions`` — written by the scheduler's emission script with every
  decision it records: field ``<outcome>|<cause>|<task>`` (:func:`decision_field`).
- ``{ns}:counter:lateness`` — written by the emission script for every scheduled run it
  emits: how late after its fire time (slot + jitter) it went out, as a histogram
  (:data:`LATENESS_LABELS`; the count is their total) and the sum of the lateness in
  whole ms (:data:`LATENESS_SUM_MS`). Earlier versions also wrote a ``count`` and the
  sum as a float ``sum`` in seconds, which readers still add in.

The task comes last in each field because a task name may contain anything; the
names before it never contain ``|``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

LATENESS_BUCKETS_S: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
"""Fire-lateness histogram upper bounds (seconds); ``le_inf`` catches the rest."""
LATENESS_LABELS: Final = (*(f"le_{b:g}" for b in LATENESS_BUCKETS_S), "le_inf")
"""The lateness histogram's field names, smallest bucket first."""
LATENESS_SUM_MS: Final = "sum_ms"
"""The lateness histogram's sum, in whole milliseconds (an integer counter)."""
LATENESS_SUM_S_OLD: Final = "sum"
"""The sum as earlier versions wrote it (seconds, a float): readers still add it in."""


def lateness_sum_s(fields: Mapping[str, float]) -> float:
    """The lateness histogram's sum in seconds, from its hash (field → number)."""
    return fields.get(LATENESS_SUM_S_OLD, 0.0) + fields.get(LATENESS_SUM_MS, 0.0) / 1000


def total_field(name: str, task: str) -> str:
    """Field of ``{ns}:totals`` holding counter ``name`` of ``task``."""
    return f"{name}|{task}"


def split_total(field: str) -> tuple[str, str] | None:
    """``(name, task)`` of a ``{ns}:totals`` field; None for a field of another shape."""
    name, sep, task = field.partition("|")
    return (name, task) if sep and task else None


def decision_field(outcome: str, cause: str, task: str) -> str:
    """Field of ``{ns}:counter:decisions`` counting ``outcome`` for ``cause`` (may be
    empty) of ``task``. The emission script builds the same string."""
    return f"{outcome}|{cause}|{task}"


def split_decision(field: str) -> tuple[str, str, str] | None:
    """``(outcome, cause, task)`` of a decision counter field; None for another shape."""
    parts = field.split("|", 2)
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 and parts[2] else None
