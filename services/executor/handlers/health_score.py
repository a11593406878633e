"""Health score maths (pure): resource usage and thresholds → 0–100.

Each resource scores 100 up to 20 points below its threshold, falls linearly to 50 at
the threshold and to 0 at 100 % usage. The score is the weighted sum of

    CPU 0.25 + memory 0.25 + disk 0.30 + swap 0.10 + load 0.10

where disk is the worst configured mount (``disk:<mount>``, each against its own
threshold) and load is the 1-minute load average per core, entered as a percentage of
twice its threshold (so 50 at the threshold, 0 at double it). A resource that was not
measured scores 100. From that sum, 15 points go per failed service probe and 10 per
Redis breach (unreachable, memory over its threshold, latency over its threshold); the
result is clamped to 0–100. Open files and the process count are reported and can
breach their thresholds, but carry no weight.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

WEIGHTS: Final = {"cpu": 0.25, "memory": 0.25, "disk": 0.3, "swap": 0.1, "load": 0.1}
PROBE_PENALTY: Final = 15.0
REDIS_PENALTY: Final = 10.0
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


def load_as_percent(load_per_core: float, threshold: float) -> float:
    """Load per core on the percent scale: its threshold maps to 50 %, twice it to 100 %."""
    return min(100.0, 50.0 * load_per_core / max(threshold, 1e-9))


def _group(name: str, usage: Mapping[str, float], thresholds: Mapping[str, float]) -> float:
    """The score of resource ``name``: for disks the worst of every ``disk:<mount>``."""
    keys = [k for k in usage if k == name or k.startswith(f"{name}:")]
    if not keys:
        return 100.0
    return min(resource_score(usage[k], thresholds.get(k, thresholds[name])) for k in keys)


def health_score(
    usage: Mapping[str, float],
    thresholds: Mapping[str, float],
    failed_probes: int = 0,
    redis_breaches: int = 0,
) -> float:
    """Overall 0–100 score (see the module docstring for the formula)."""
    total = sum(weight * _group(name, usage, thresholds) for name, weight in WEIGHTS.items())
    penalty = PROBE_PENALTY * failed_probes + REDIS_PENALTY * redis_breaches
    return round(max(0.0, min(100.0, total - penalty)), 1)


def breaches(usage: Mapping[str, float], thresholds: Mapping[str, float]) -> list[str]:
    """Measured values strictly above their threshold (CPU > 80 % etc.), in usage order."""
    return [
        name for name, value in usage.items() if name in thresholds and value > thresholds[name]
    ]
