"""The report document, version :data:`SCHEMA_VERSION`: what the JSON format contains.

These models are the schema: ``docs/report-schema.json`` is their JSON Schema (a test keeps
the file equal to :func:`json_schema`) and ``docs/report-schema.md`` explains the fields.
Rates are fractions 0..1, durations seconds, changes percentages; ``null`` means "no data"
(no run, no expected slot, no sample). A new field raises the minor version; a renamed or
removed one raises :data:`SCHEMA_VERSION`.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict

SCHEMA_ID: Final = "watchkeeper.report"
SCHEMA_VERSION: Final = 1


class Doc(BaseModel):
    """Frozen; unknown fields are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class PeriodDoc(Doc):
    """Whole UTC days, inclusive."""

    first_day: str
    last_day: str
    days: int


class Counts(Doc):
    """Results of a period by outcome (failed includes timed out and rolled back)."""

    runs: int
    succeeded: int
    failed: int
    skipped: int
    dead_lettered: int
    cancelled: int


class Summary(Counts):
    """The whole period across tasks."""

    success_rate: float | None
    on_time_rate: float | None
    bytes_freed: float
    files_processed: float
    items_processed: float


class Previous(Doc):
    """The same task in the previous period."""

    runs: int
    success_rate: float | None
    duration_p50_s: float | None
    duration_p95_s: float | None
    duration_mean_s: float | None


class TaskRow(Counts):
    """One task over the period (one CSV row): ``effectiveness`` is 100 × success rate ×
    on-time rate (1 when the task has no schedule), ``rank`` orders by it."""

    task: str
    rank: int
    effectiveness: float | None
    success_rate: float | None
    duration_p50_s: float | None
    duration_p95_s: float | None
    duration_mean_s: float | None
    duration_max_s: float | None
    duration_change_pct: float | None
    slots_expected: int | None
    slots_run: int
    on_time_rate: float | None
    bytes_freed: float
    files_processed: float
    items_processed: float
    last_error: str | None
    previous: Previous


class Failure(Doc):
    """A task with failed or dead-lettered runs in the period, with its last error."""

    task: str
    failed: int
    dead_lettered: int
    runs: int
    last_error: str | None


class Gauge(Doc):
    """One sampled gauge over some days."""

    min: float
    max: float
    mean: float
    samples: int


class DayPoint(Doc):
    """One day of the charts (across tasks)."""

    day: str
    runs: int
    success_rate: float | None
    duration_mean_s: float | None
    duration_p95_s: float | None
    health_score: float | None


class Health(Doc):
    """Resource trends from ``system_health_check`` samples (any task reporting them)."""

    current: dict[str, Gauge]
    previous: dict[str, Gauge]


class AlertItem(Doc):
    """An alert as the report shows it."""

    key: str
    severity: str
    title: str
    since: str | None
    count: int


class Alerts(Doc):
    """Active alerts now and alerts resolved during the period; ``available`` is false when
    no alert data was found."""

    available: bool
    active: list[AlertItem]
    resolved: list[AlertItem]


class Report(Doc):
    """A daily or weekly report."""

    schema_id: Literal["watchkeeper.report"] = SCHEMA_ID
    version: int = SCHEMA_VERSION
    kind: Literal["daily", "weekly"]
    date: str
    generated_at: str
    timezone: str
    period: PeriodDoc
    previous_period: PeriodDoc
    summary: Summary
    tasks: list[TaskRow]
    ranking: list[str]
    failures: list[Failure]
    health: Health
    trend: list[DayPoint]
    alerts: Alerts
    recommendations: list[str]


def json_schema() -> dict[str, Any]:
    """The JSON Schema of :class:`Report` (what ``docs/report-schema.json`` holds)."""
    schema = Report.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"{SCHEMA_ID}/v{SCHEMA_VERSION}"
    return schema
