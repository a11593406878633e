"""Resource rules over the latest ``system_health_check`` result (pure).

CPU, memory and disk use their thresholds as the health check measured them (its params:
80 %, 85 %, 90 % by default; disk is the worst mount against its own threshold): above
the threshold is a warning, above halfway from there to 100 % critical (disk 95 %).
The health score is a warning below ``health_warning`` (50) and critical below
``health_critical`` (30). Each failed service probe is an alert of its own severity
(critical by default), resolved when the probe passes again.
"""

from __future__ import annotations

from typing import Any, Final

from services.reporter.rules.base import Finding, TaskView, Verdict
from shared.contract.events import TaskResult

HEALTH_HANDLER: Final = "system_health_check"
RESOURCES: Final = ("cpu", "memory", "disk")


def _worst(result: TaskResult, name: str) -> tuple[str, float, float] | None:
    """(measure, usage, threshold) of the resource ``name`` most over its threshold."""
    usage: dict[str, Any] = result.details.get("usage") or {}
    limits: dict[str, Any] = result.details.get("thresholds") or {}
    found = [
        (k, float(v), float(limits.get(k, limits.get(name, 100.0))))
        for k, v in usage.items()
        if (k == name or k.startswith(f"{name}:")) and isinstance(v, int | float)
    ]
    return max(found, key=lambda f: f[1] - f[2], default=None)


def _resource(view: TaskView, result: TaskResult, name: str) -> list[Verdict]:
    key = f"system.{name}"
    worst = _worst(result, name)
    if worst is None:
        return []
    measure, used, limit = worst
    if used <= limit:
        return [(key, None)]
    critical = used > limit + (100.0 - limit) / 2
    return [(key, Finding(
        key=key, severity="critical" if critical else "warning",
        title=f"{measure} at {used:.1f} % (threshold {limit:g} %)",
        message=f"{view.task} on {result.executor}: {result.message}",
        labels=view.labels(HEALTH_HANDLER, resource=name, host=result.executor),
        details={"measure": measure, "usage_percent": used, "threshold_percent": limit,
                 "run_id": result.run_id},
    ))]  # fmt: skip


def _score(view: TaskView, result: TaskResult) -> list[Verdict]:
    key = "system.health_score"
    score = result.metrics.get("health_score")
    if not isinstance(score, int | float):
        return []
    policy = view.policy
    if score >= policy.health_warning:
        return [(key, None)]
    severity = "critical" if score < policy.health_critical else "warning"
    return [(key, Finding(
        key=key, severity=severity, title=f"health score {score:.0f}/100",
        message=f"{view.task} on {result.executor}: {result.message}",
        labels=view.labels(HEALTH_HANDLER, host=result.executor),
        details={"health_score": score, "breaches": result.details.get("breaches", []),
                 "run_id": result.run_id},
    ))]  # fmt: skip


def _probes(view: TaskView, result: TaskResult) -> list[Verdict]:
    verdicts: list[Verdict] = []
    for probe in result.details.get("probes") or []:
        if not isinstance(probe, dict) or "name" not in probe:
            continue
        key = f"probe.{probe['name']}"
        if probe.get("ok"):
            verdicts.append((key, None))
            continue
        verdicts.append((key, Finding(
            key=key, severity=str(probe.get("severity", "critical")),
            title=f"probe {probe['name']} failed: {probe.get('error', 'no answer')}",
            message=f"{probe.get('kind', 'probe')} {probe.get('target', '')} "
                    f"checked by {view.task} on {result.executor}",
            labels=view.labels(HEALTH_HANDLER, probe=str(probe["name"]), host=result.executor),
            details={k: v for k, v in probe.items() if k != "severity"},
        )))  # fmt: skip
    return verdicts


def resources(view: TaskView) -> list[Verdict]:
    """Resource, health-score and probe verdicts of the task's latest health check."""
    last = view.last
    if last is None or last.handler != HEALTH_HANDLER or last.status != "succeeded":
        return []
    verdicts = [v for name in RESOURCES for v in _resource(view, last, name)]
    return verdicts + _score(view, last) + _probes(view, last)
