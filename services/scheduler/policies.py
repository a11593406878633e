"""Policies: config rules that turn alerts and results into runs (pure matching).

``when`` keys (all given must hold):
- ``alert``: alert key, shell-style pattern (``system.disk``, ``system.*``);
  ``severity``: the least severity that matches (critical > warning > info);
- ``task``: result's task; ``status``: result status (or a list of them);
  ``metric`` with ``below`` / ``above``: a numeric result metric (or detail) threshold,
  e.g. ``{task: system_health_check, metric: health_score, below: 30}``.
A rule with ``alert`` only matches alerts; one without it only matches results.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from shared.config.models import PolicyConfig
from shared.contract.events import AlertRaised, TaskResult
from shared.contract.vocabulary import SEVERITY_RANK


def policy_name(index: int, policy: PolicyConfig) -> str:
    """A policy's name, or ``policy-<index>`` when it has none (cooldown keys use it)."""
    return policy.name or f"policy-{index}"


def matches(when: dict[str, Any], event: AlertRaised | TaskResult) -> bool:
    """Whether ``event`` satisfies every condition in ``when``."""
    if isinstance(event, AlertRaised):
        return "alert" in when and _alert_matches(when, event)
    return "alert" not in when and _result_matches(when, event)


def _alert_matches(when: dict[str, Any], alert: AlertRaised) -> bool:
    if not fnmatchcase(alert.key, str(when["alert"])):
        return False
    least = SEVERITY_RANK.get(str(when.get("severity", "info")), 1)
    return SEVERITY_RANK.get(alert.severity, 0) >= least


def _result_matches(when: dict[str, Any], result: TaskResult) -> bool:
    if "task" in when and result.task != when["task"]:
        return False
    statuses = when.get("status")
    if statuses is not None and result.status not in _as_list(statuses):
        return False
    return "metric" not in when or _metric_matches(when, result)


def _metric_matches(when: dict[str, Any], result: TaskResult) -> bool:
    name = str(when["metric"])
    value = result.metrics.get(name, result.details.get(name))
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    if "below" in when and not value < float(when["below"]):
        return False
    return not ("above" in when and not value > float(when["above"]))


def describe(when: dict[str, Any]) -> str:
    """``when`` in words for run reasons: ``alert system.disk ≥ critical``."""
    if "alert" in when:
        return f"alert {when['alert']} ≥ {when.get('severity', 'info')}"
    parts = [f"{k}={when[k]}" for k in ("task", "status") if k in when]
    if "metric" in when:
        bound = [f"< {when['below']}" if "below" in when else "", f"> {when.get('above', '')}"]
        parts.append(f"{when['metric']} {bound[0] or bound[1]}")
    return "result " + " ".join(parts)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]
