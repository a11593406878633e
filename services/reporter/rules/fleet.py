"""Executor fleet empty (pure): work is waiting and no executor has a heartbeat."""

from __future__ import annotations

from typing import Final

from services.reporter.rules.base import Finding, Verdict

FLEET_KEY: Final = "executor.fleet_empty"


def fleet_empty(executors: int, backlog: int) -> Verdict:
    """Critical while ``backlog`` runs wait on the due streams and ``executors`` is 0."""
    if executors or not backlog:
        return FLEET_KEY, None
    return FLEET_KEY, Finding(
        key=FLEET_KEY, severity="critical", title="no executor is alive while work is due",
        message=f"{backlog} run(s) wait on the due streams and no executor has a heartbeat",
        labels={"rule": "fleet_empty"}, details={"backlog": backlog},
    )  # fmt: skip
