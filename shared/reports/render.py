"""A report in each format: JSON (the schema), CSV (one row per task), Markdown, and HTML
(Jinja2 template with inline SVG charts; opens from a file with no network)."""

from __future__ import annotations

import csv
import io
from typing import Any, Final

import jinja2
from markupsafe import Markup

from shared.reports.schema import Failure, Report, TaskRow
from shared.reports.svg import line_chart

_ENV: Final = jinja2.Environment(
    loader=jinja2.PackageLoader("shared.reports", "templates"),
    autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
)  # fmt: skip


def to_json(report: Report) -> str:
    """The JSON document (``docs/report-schema.json``)."""
    return report.model_dump_json(indent=2) + "\n"


def csv_columns() -> list[str]:
    """CSV header: the task and its rank first, then the row's other fields, ``previous``
    flattened to ``previous_*``."""
    first = ["task", "rank", "effectiveness"]
    own = first + [n for n in TaskRow.model_fields if n not in (*first, "previous")]
    return own + [f"previous_{n}" for n in TaskRow.model_fields["previous"].annotation.model_fields]  # type: ignore[union-attr]


def _flat(row: TaskRow) -> dict[str, Any]:
    data = row.model_dump(exclude={"previous"})
    data.update({f"previous_{k}": v for k, v in row.previous.model_dump().items()})
    return {k: "" if v is None else v for k, v in data.items()}


def to_csv(report: Report) -> str:
    """One row per task, by name."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=csv_columns(), lineterminator="\n")
    writer.writeheader()
    writer.writerows(_flat(row) for row in report.tasks)
    return out.getvalue()


def pct(x: float | None) -> str:
    """A 0..1 rate as ``97.5 %`` (``–`` for no data)."""
    return "–" if x is None else f"{100 * x:.1f} %"


def secs(x: float | None) -> str:
    """Seconds as ``1.25 s`` (``–`` for no data)."""
    return "–" if x is None else f"{x:.2f} s"


def change(x: float | None) -> str:
    """A percentage change as ``+62.0 %``."""
    return "–" if x is None else f"{x:+.1f} %"


def size(n: float) -> str:
    """Bytes in binary units."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # unreachable: the loop returns at GiB


def failure_counts(f: Failure) -> str:
    """``2 of 7 runs failed, 1 dead-lettered``."""
    text = f"{f.failed} of {f.runs} runs failed"
    return text + (f", {f.dead_lettered} dead-lettered" if f.dead_lettered else "")


def title(report: Report) -> str:
    """``Watchkeeper daily report — 2026-01-05``."""
    return f"Watchkeeper {report.kind} report — {report.date}"


def charts(report: Report) -> dict[str, Markup]:
    """The three charts: duration trend, success rate, health score."""
    labels = [p.day[5:] for p in report.trend]
    trend = report.trend
    svgs = {
        "duration": line_chart("Duration (mean and p95, seconds)", labels, {
            "mean": [p.duration_mean_s for p in trend], "p95": [p.duration_p95_s for p in trend],
        }, unit="s"),
        "success": line_chart("Success rate (%)", labels, {
            "success": [None if p.success_rate is None else 100 * p.success_rate for p in trend],
        }, y_max=100, unit="%"),
        "health": line_chart("Health score (daily mean)", labels, {
            "health": [p.health_score for p in trend]}, y_max=100),
    }  # fmt: skip
    return {k: Markup(v) for k, v in svgs.items()}  # noqa: S704  (our own escaped markup)


def to_html(report: Report) -> str:
    """A standalone HTML page (inline CSS and SVG, no external reference)."""
    template = _ENV.get_template("report.html.j2")
    helpers = {"pct": pct, "secs": secs, "change": change, "size": size,
               "failures": failure_counts}  # fmt: skip
    return template.render(r=report, title=title(report), charts=charts(report), **helpers)
