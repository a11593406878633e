"""``watchkeeper report daily|weekly``: a report on demand, built from Redis directly (no
running reporter needed) or by the API with ``--api`` (``GET /api/v1/reports/{kind}``,
which stores nothing either), printed or written to a file."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from services.cli.api_client import ApiClient
from services.cli.config import CONFIG_OPTION, cli_clock, load, with_backend
from shared.reports.formats import render
from shared.reports.load import make_report
from shared.reports.periods import Kind, report_day
from shared.reports.schema import Report

FORMATS = ("html", "json", "csv", "md")


@click.command("report")
@CONFIG_OPTION
@click.argument("kind", type=click.Choice(["daily", "weekly"]))
@click.option("--date", "day", help="Report date YYYY-MM-DD (default: today's daily report, "
              "the latest weekly one), in the configured time zone.")  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="md", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
def report_command(
    config_path: str | None, kind: Kind, day: str | None, fmt: str, out: str | None
) -> None:
    """Build a daily or weekly report from the daily aggregates in Redis."""
    config = load(config_path).config
    now = cli_clock().now()
    when = _date(day) if day else report_day(kind, config.reports, config.timezone, now)
    report = with_backend(config, lambda r, k: make_report(r, k, config, kind, when, now),
                          lambda api: _via_api(api, kind, when))  # fmt: skip
    text = render(report, fmt)
    if out is None:
        click.echo(text, nl=False)
        return
    Path(out).write_text(text, encoding="utf-8")
    click.echo(f"{kind} report {report.date} ({fmt}) written to {out}", err=True)


async def _via_api(api: ApiClient, kind: Kind, when: date) -> Report:
    """The report the API makes as of its own clock (rendered here, as on Redis)."""
    return Report.model_validate(await api.get(f"/api/v1/reports/{kind}", date=when))


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not YYYY-MM-DD", param_hint="--date") from None
