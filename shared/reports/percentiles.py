"""Duration percentiles from the fixed-bucket histogram of the daily aggregates (pure).

Same estimate as Prometheus' ``histogram_quantile``: find the bucket holding the rank,
interpolate linearly inside it. The open last bucket has no upper bound, so the day's
largest duration stands in for it; no estimate exceeds that maximum.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from shared.contract.readmodel import BUCKET_LABELS, DURATION_BUCKETS_S


def merge(histograms: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Bucket-wise sum of several histograms (days, tasks)."""
    total: dict[str, int] = dict.fromkeys(BUCKET_LABELS, 0)
    for histogram in histograms:
        for label, count in histogram.items():
            if label in total:
                total[label] += count
    return total


def quantile(q: float, buckets: Mapping[str, int], maximum: float) -> float | None:
    """The ``q`` quantile (0..1) of the durations counted in ``buckets``; None when empty."""
    n = sum(buckets.get(label, 0) for label in BUCKET_LABELS)
    if n == 0:
        return None
    rank, seen, lower = q * n, 0, 0.0
    for label, upper in zip(BUCKET_LABELS, (*DURATION_BUCKETS_S, maximum), strict=True):
        count = buckets.get(label, 0)
        if count and seen + count >= rank:
            upper = max(min(upper, maximum), lower)  # no value in the bucket exceeds the max
            return min(lower + (upper - lower) * (rank - seen) / count, maximum)
        seen += count
        lower = upper
    return maximum
