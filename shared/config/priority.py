"""The impact/urgency/effort/success-rate priority score (seed 000's priority engine).

``score = (impact·0.4 + urgency·0.3 + ease·0.2 + success·0.1) × category × priority``
with every factor on a 0-100 scale: impact and urgency are the task's 0-10 settings
×10, ease is ``100 - effort×10`` (cheap work ranks higher), success is the historical
success rate in percent (100 with no history). Pure: callers pass the history in.
The scheduler orders due work with it; the CLI and the API show the breakdown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from shared.config.models import TaskConfig
from shared.contract.vocabulary import PRIORITY_RANK

WEIGHTS: Final = {"impact": 0.4, "urgency": 0.3, "effort": 0.2, "success_rate": 0.1}
"""Seed 000's default weights (impact_weight, urgency_weight, effort_weight, …)."""

CATEGORY_MULTIPLIERS: Final = {
    "security": 1.3,
    "backup": 1.2,
    "database": 1.15,
    "system": 1.1,
    "performance": 1.1,
    "filesystem": 1.0,
    "cache": 1.0,
    "maintenance": 1.0,
    "code_quality": 1.0,
    "logs": 0.9,
    "reporting": 0.8,
}
"""Category multipliers: protecting data and the system outranks housekeeping.
Categories not listed count 1.0."""

PRIORITY_ADJUSTMENTS: Final = {"critical": 1.5, "high": 1.2, "normal": 1.0, "low": 0.8}
"""The ``priority`` setting as a multiplier (seed 000's "Priority Adjustment")."""


@dataclass(frozen=True, slots=True)
class Breakdown:
    """Every term of a task's score, for ``watchkeeper priority TASK``."""

    impact: float
    urgency: float
    ease: float
    success_rate: float
    weighted: float
    category: str
    category_multiplier: float
    priority: str
    priority_adjustment: float
    score: float

    def terms(self) -> tuple[tuple[str, float, float], ...]:
        """``(factor, value 0-100, weight)`` of each weighted term, in :data:`WEIGHTS`
        order (``effort`` enters as its ease)."""
        values = {"impact": self.impact, "urgency": self.urgency, "effort": self.ease,
                  "success_rate": self.success_rate}  # fmt: skip
        return tuple((name, values[name], weight) for name, weight in WEIGHTS.items())


def breakdown(task: TaskConfig, success_rate: float | None = None) -> Breakdown:
    """The score of ``task``; ``success_rate`` is 0..1 (None: no history, counts as 1)."""
    impact, urgency = task.impact * 10, task.urgency * 10
    ease = 100 - task.effort * 10
    success = 100.0 if success_rate is None else max(0.0, min(1.0, success_rate)) * 100
    values = {"impact": impact, "urgency": urgency, "effort": ease, "success_rate": success}
    weighted = sum(values[name] * weight for name, weight in WEIGHTS.items())
    category = CATEGORY_MULTIPLIERS.get(task.category, 1.0)
    adjust = PRIORITY_ADJUSTMENTS[task.priority]
    return Breakdown(
        impact=impact, urgency=urgency, ease=ease, success_rate=success, weighted=weighted,
        category=task.category, category_multiplier=category, priority=task.priority,
        priority_adjustment=adjust, score=round(weighted * category * adjust, 2),
    )  # fmt: skip


def score(task: TaskConfig, success_rate: float | None = None) -> float:
    """The priority score alone (higher runs first within a priority class)."""
    return breakdown(task, success_rate).score


def order_key(task: TaskConfig, success_rate: float | None = None) -> tuple[int, float]:
    """Sort key for due work: priority class first, then the higher score."""
    return PRIORITY_RANK[task.priority], -score(task, success_rate)
