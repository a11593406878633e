"""A report as Markdown (GitHub-flavoured tables), for chat, tickets and e-mail."""

from __future__ import annotations

from collections.abc import Iterator

from shared.reports.render import change, failure_counts, pct, secs, size, title
from shared.reports.schema import Report


def _table(head: list[str], rows: list[list[str]]) -> Iterator[str]:
    yield "| " + " | ".join(head) + " |"
    yield "|" + "|".join("---" for _ in head) + "|"
    for row in rows:
        yield "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"


def _summary(r: Report) -> Iterator[str]:
    s = r.summary
    yield from _table(
        ["runs", "succeeded", "failed", "skipped", "dead-lettered", "success", "on time",
         "freed", "files"],
        [[str(s.runs), str(s.succeeded), str(s.failed), str(s.skipped), str(s.dead_lettered),
          pct(s.success_rate), pct(s.on_time_rate), size(s.bytes_freed),
          f"{s.files_processed:.0f}"]],
    )  # fmt: skip


def _tasks(r: Report) -> Iterator[str]:
    rows = [[str(t.rank), t.task, str(t.runs), str(t.failed), pct(t.success_rate),
             secs(t.duration_p50_s), secs(t.duration_p95_s), change(t.duration_change_pct),
             pct(t.on_time_rate), "–" if t.effectiveness is None else f"{t.effectiveness:.1f}"]
            for t in sorted(r.tasks, key=lambda t: t.rank)]  # fmt: skip
    yield from _table(["#", "task", "runs", "failed", "success", "p50", "p95", "Δ mean",
                       "on time", "score"], rows)  # fmt: skip


def _failures(r: Report) -> Iterator[str]:
    if not r.failures:
        yield "No failures."
    for f in r.failures:
        error = f.last_error or "no error text"
        yield f"- **{f.task}**: {failure_counts(f)} — {error}"


def _health(r: Report) -> Iterator[str]:
    if not r.health.current:
        yield "No health samples."
        return
    rows = []
    for name, g in r.health.current.items():
        before = r.health.previous.get(name)
        rows.append([name, f"{g.min:g}", f"{g.mean:g}", f"{g.max:g}",
                     "–" if before is None else f"{before.mean:g}"])  # fmt: skip
    yield from _table(["gauge", "min", "mean", "max", "previous mean"], rows)


def _alerts(r: Report) -> Iterator[str]:
    a = r.alerts
    if not a.available:
        yield "No alert data."
        return
    yield f"Active: {len(a.active)}, resolved in the period: {len(a.resolved)}."
    for label, items in (("active", a.active), ("resolved", a.resolved)):
        for item in items:
            yield f"- {label} **{item.severity}** {item.key}: {item.title} (×{item.count})"


def to_markdown(r: Report) -> str:
    """The whole report as Markdown."""
    p = r.period
    parts = [
        [f"# {title(r)}", "",
         (f"Period {p.first_day} – {p.last_day} (UTC days), generated {r.generated_at} "
          f"({r.timezone}). Schema {r.schema_id} v{r.version}.")],
        ["## Summary", "", *_summary(r)],
        ["## Recommendations", "", *(f"- {s}" for s in r.recommendations)],
        ["## Tasks by effectiveness", "", *_tasks(r)],
        ["## Failures", "", *_failures(r)],
        ["## Health", "", *_health(r)],
        ["## Alerts", "", *_alerts(r)],
    ]  # fmt: skip
    return "\n\n".join("\n".join(part) for part in parts) + "\n"
