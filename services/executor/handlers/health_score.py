"""Health score maths (pure): resource usage and thresholds → 0–100.

Each resource scores 100 up to 20 points below its threshold, falls linearly to 50 at
the threshold and to 0 at 100 % usage. The overall score is the weighted mean (CPU 0.3,
memory 0.3, disk 0.4, the worst disk counting) minus 15 per failed service probe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

WEIGHTS: Final = {"cpu": 0.3, "memory": 0.3, "disk": 0.4}
PROBE_PENALTY: Final = 15.0
MARGIN: Final = 20.0


def resource_score(usage_pct: float, threshold_pct: float) -> float:
    """Score one resource: 100 when comfortably below threshold, 0 when full."""
    usage = min(max(usage_pct, 0.0), 100.0)
    calm = max(threshold_pct - MARGIN, 0.0)
    if usage <= calm:
        return 100.0
    if usage <= threshold_pct:
        return 100.0 - 50.0 * (usage - calm) / max(threshold_pct - calm, 1e-9)
    return 50.0 * (100.0 - usage) / max(100.0 - threshold_pct, 1e-9)


def health_score(
    usage: Mapping[str, float], thresholds: Mapping[str, float], failed_probes: int = 0
) -> float:
    """Overall 0–100 score from ``usage``/``thresholds`` keyed cpu, memory, disk."""
    total = sum(
        weight * resource_score(usage[name], thresholds[name]) for name, weight in WEIGHTS.items()
    )
    return round(max(0.0, min(100.0, total - PROBE_PENALTY * failed_probes)), 1)


def breaches(usage: Mapping[str, float], thresholds: Mapping[str, float]) -> list[str]:
    """Resources strictly above their threshold (CPU > 80 % etc.), in a stable order."""
    return [name for name in WEIGHTS if usage[name] > thresholds[name]]
