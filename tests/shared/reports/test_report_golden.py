"""Golden reports: a fixed, constructed history gives exactly these JSON, CSV and Markdown
documents; the JSON follows docs/report-schema.json; the HTML parses, holds the three charts
as SVG and references nothing outside itself.

Regenerate after an intended change: ``WK_UPDATE_GOLDEN=1 pytest tests/reporter`` (and read
the diff).
"""

from __future__ import annotations

import json
import os
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest

from shared.contract.keys import Keys
from shared.reports.formats import render
from shared.reports.load import make_report
from shared.reports.schema import Report, json_schema
from shared.runtime.redis import Redis
from tests.reporter.report_history import NOW, config, record_history

GOLDEN = Path(__file__).parent / "golden"
SCHEMA = Path(__file__).parents[3] / "docs" / "report-schema.json"


async def _daily(r: Redis, keys: Keys) -> Report:
    await record_history(r, keys)
    return await make_report(r, keys, config(keys.ns), "daily", NOW.date(), NOW)


def _golden(name: str, text: str) -> str:
    """The golden file's text (rewritten from ``text`` first under WK_UPDATE_GOLDEN)."""
    path = GOLDEN / name
    if os.environ.get("WK_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", ["json", "csv", "md"])
async def test_daily_report_is_exactly_the_golden_one(r: Redis, keys: Keys, fmt: str) -> None:
    name = f"daily-2026-03-10.{fmt}"
    text = render(await _daily(r, keys), fmt)
    assert text == _golden(name, text), f"{name} differs from its golden file"


async def test_json_follows_the_published_schema(r: Redis, keys: Keys) -> None:
    document = json.loads(render(await _daily(r, keys), "json"))
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)
    assert schema == json_schema(), "docs/report-schema.json is stale: regenerate it"
    document["summary"]["runs"] = "many"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.figures: dict[str, int] = {}
        self.references: list[str] = []
        self._figure: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        named = dict(attrs)
        if tag == "figure":
            self._figure = named.get("id")
        if tag == "svg" and self._figure:
            self.figures[self._figure] = self.figures.get(self._figure, 0) + 1
        self.references += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href")]

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._figure = None


async def test_html_parses_has_three_svg_charts_and_no_external_reference(
    r: Redis, keys: Keys
) -> None:
    html = render(await _daily(r, keys), "html")
    page = _Page()
    page.feed(html)
    page.close()
    assert page.figures == {"chart-duration": 1, "chart-success": 1, "chart-health": 1}
    assert page.tags.count("polyline") >= 3  # each chart draws its line
    assert not page.references
    assert not {"script", "link", "img", "iframe", "object"} & set(page.tags)
    for needle in ("http://", "https://", "url(", "@import", "//cdn"):
        assert needle not in html
    assert "prefers-color-scheme: dark" in html and "@media print" in html
    assert "data_cleanup failed 1 of 1 run — last error: OSError: disk full on day 10" in html


async def test_weekly_report_compares_with_the_week_before(r: Redis, keys: Keys) -> None:
    await record_history(r, keys)
    sunday = NOW.replace(day=15)
    report = await make_report(r, keys, config(keys.ns), "weekly", sunday.date(), sunday)
    assert (report.period.first_day, report.period.last_day) == ("2026-03-08", "2026-03-14")
    assert report.previous_period.first_day == "2026-03-01"
    cleanup = next(t for t in report.tasks if t.task == "data_cleanup")
    assert (cleanup.runs, cleanup.failed) == (3, 1)  # March 8, 9, 10; the 10th failed
    assert cleanup.slots_expected == 7 and cleanup.on_time_rate == pytest.approx(3 / 7, abs=1e-4)
    assert len(report.trend) == 28
    jsonschema.validate(json.loads(render(report, "json")), json.loads(SCHEMA.read_text()))
