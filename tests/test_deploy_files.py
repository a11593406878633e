"""The shipped Grafana dashboard and Prometheus rules parse and use only exported metrics."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from services.api.metrics import SnapshotCollector
from services.api.metrics_read import Snapshot

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
METRIC_RE = re.compile(r"\bwatchkeeper_[a-z_]+")
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}


def exported() -> set[str]:
    """Every sample name the collector can produce, from the collector itself."""
    return {
        family.name + suffix
        for family in SnapshotCollector(Snapshot()).collect()
        for suffix in SUFFIXES[family.type]
    }


def dashboard_exprs(dashboard: dict[str, Any]) -> Iterator[str]:
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            yield target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            yield variable["definition"]


def test_grafana_dashboard_parses_and_queries_exported_metrics() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "watchkeeper.json").read_text())
    exprs = list(dashboard_exprs(dashboard))
    assert len(dashboard["panels"]) >= 10
    used = {m for e in exprs for m in METRIC_RE.findall(e)}
    assert used, "the dashboard queries no Watchkeeper metric"
    assert used <= exported(), f"not exported: {sorted(used - exported())}"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_prometheus_rules_parse_cover_the_four_alerts_and_use_exported_metrics() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    (group,) = rules["groups"]
    alerts = {rule["alert"]: rule for rule in group["rules"]}
    assert {
        "WatchkeeperTaskFailing",
        "WatchkeeperTaskStale",
        "WatchkeeperExecutorsGone",
        "WatchkeeperDeadLettersRising",
    } <= set(alerts)
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), name
        used = set(METRIC_RE.findall(rule["expr"]))
        assert used, name
        assert used <= exported(), f"{name}: not exported: {sorted(used - exported())}"


def test_the_check_catches_a_metric_that_is_not_exported() -> None:
    assert "watchkeeper_task_runs_total" in exported()
    assert "watchkeeper_run_duration_seconds_bucket" in exported()
    assert "watchkeeper_task_runs" not in exported()  # a counter is read with its _total
