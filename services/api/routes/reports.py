"""Reports: list the stored ones, make one on demand, fetch one in any format.

Reports are made by the reporter (daily, weekly) or ``POST /reports/{kind}``, and stored
as JSON under ``{ns}:reports:<kind>:<date>``; fetching renders the stored JSON as HTML,
CSV or Markdown (:mod:`shared.reports`). ``GET /reports/{kind}`` makes one as of now and
stores nothing (``watchkeeper report``, which builds from Redis directly, does the same).
"""

from __future__ import annotations

import json
import re
from datetime import date as Date
from typing import Any, Final, Literal

from aiohttp import web
from pydantic import Field, ValidationError
from typing_extensions import TypedDict

from services.api.errors import Conflict, NotFound, ParamError
from services.api.routing import BodyModel, Call, QueryModel, Route
from shared.reports.formats import render
from shared.reports.load import make_report
from shared.reports.periods import KINDS, Kind, report_day
from shared.reports.render import to_json
from shared.reports.schema import Report
from shared.runtime.redis import text

_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
SCAN_COUNT: Final = 500
CONTENT_TYPES: Final = {"html": "text/html", "json": "application/json", "csv": "text/csv",
                        "md": "text/markdown"}  # fmt: skip


class ReportMade(TypedDict):
    """A report made and stored; fetch it at ``url`` (``?format=`` for other formats)."""

    kind: str
    date: str
    url: str


class GenerateBody(BodyModel):
    """Which report to make: ``date`` (default: today's daily report, the latest weekly
    one, in the configured time zone)."""

    date: Date | None = None


class FormatQuery(QueryModel):
    """The format to fetch a report in."""

    format: Literal["html", "json", "csv", "md"] = Field("json")


class MakeQuery(FormatQuery):
    """Which report to make (``date`` default: today's daily report, the latest weekly
    one, in the configured time zone) and its format."""

    date: Date | None = None


def _kind(call: Call) -> Kind:
    kind = call.path("kind")
    for known in KINDS:
        if kind == known:
            return known
    raise ParamError("kind", f"must be one of {', '.join(KINDS)}", where="path")


def _url(kind: str, day: str) -> str:
    return f"/api/v1/reports/{kind}/{day}"


async def list_reports(call: Call) -> web.Response:
    """Every stored report (kind and date), newest first."""
    prefix = call.keys.report("", "")[: -len("::")]
    found: list[dict[str, str]] = []
    async for raw in call.r.scan_iter(match=f"{prefix}:*", count=SCAN_COUNT):
        kind, _, day = text(raw)[len(prefix) + 1 :].partition(":")
        if kind in KINDS and _DATE.match(day):
            found.append({"kind": kind, "date": day, "url": _url(kind, day)})
    found.sort(key=lambda r: (r["date"], r["kind"]), reverse=True)
    return web.json_response({"items": found})


async def generate_report(call: Call) -> web.Response:
    """Make a report now from the daily aggregates and store it (operator); a stored
    report of the same kind and date is replaced."""
    report = await _made(call, call.b(GenerateBody).date)
    await call.r.set(call.keys.report(report.kind, report.date), to_json(report))
    made = ReportMade(kind=report.kind, date=report.date, url=_url(report.kind, report.date))
    return web.json_response(made, status=201)


async def _made(call: Call, day: Date | None) -> Report:
    kind, now, config = _kind(call), call.clock.now(), call.config
    day = day or report_day(kind, config.reports, config.timezone, now)
    return await make_report(call.r, call.keys, config, kind, day, now)


async def make_now(call: Call) -> web.Response:
    """A report made now from the daily aggregates, stored nowhere: JSON, or rendered as
    ``html``, ``csv`` or ``md``."""
    q = call.q(MakeQuery)
    report = await _made(call, q.date)
    if q.format == "json":
        return web.Response(text=to_json(report), content_type="application/json")
    return web.Response(text=render(report, q.format), content_type=CONTENT_TYPES[q.format])


async def get_report(call: Call) -> web.Response:
    """One stored report: JSON (schema in docs/report-schema.json), or rendered as
    ``html``, ``csv`` or ``md``."""
    kind, day, fmt = _kind(call), call.path("date"), call.q(FormatQuery).format
    if not _DATE.match(day):
        raise ParamError("date", "must be a date YYYY-MM-DD", where="path")
    raw = await call.r.get(call.keys.report(kind, day))
    if raw is None:
        raise NotFound(f"no {kind} report for {day}", details={"kind": kind, "date": day})
    if fmt == "json":
        body: Any = json.loads(raw)
        return web.json_response(body)
    try:
        report = Report.model_validate_json(raw)
    except ValidationError:
        raise Conflict(f"the stored {kind} report for {day} is damaged; make it again") from None
    return web.Response(text=render(report, fmt), content_type=CONTENT_TYPES[fmt])


ROUTES = (
    Route(method="GET", path="/api/v1/reports", handler=list_reports, tag="reports",
          summary="Stored reports (newest first)"),
    Route(method="GET", path="/api/v1/reports/{kind}", handler=make_now, tag="reports",
          query=MakeQuery, summary="Make a report now and store nothing (JSON, or "
          "?format=html|csv|md)"),
    Route(method="POST", path="/api/v1/reports/{kind}", handler=generate_report,
          tag="reports", summary="Make (or remake) a report now and store it",
          role="operator", body=GenerateBody, status=201, response=ReportMade),
    Route(method="GET", path="/api/v1/reports/{kind}/{date}", handler=get_report,
          tag="reports", query=FormatQuery, errors=(409,),
          summary="One stored report (JSON, or ?format=html|csv|md)"),
)  # fmt: skip
