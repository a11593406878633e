"""Reports the reporter stored: list them, fetch one as JSON.

Reports are made by the reporter (daily, weekly) or ``watchkeeper report``, and stored
as JSON under ``{ns}:reports:<kind>:<date>``; the API only reads them (building one
needs the reporter's code, which a service may not import).
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from aiohttp import web

from services.api.errors import NotFound, ParamError
from services.api.routing import Call, Route
from shared.runtime.redis import text

KINDS: Final = ("daily", "weekly")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
SCAN_COUNT: Final = 500


async def list_reports(call: Call) -> web.Response:
    """Every stored report (kind and date), newest first."""
    prefix = call.keys.report("", "")[: -len("::")]
    found: list[dict[str, str]] = []
    async for raw in call.r.scan_iter(match=f"{prefix}:*", count=SCAN_COUNT):
        kind, _, day = text(raw)[len(prefix) + 1 :].partition(":")
        if kind in KINDS and _DATE.match(day):
            found.append({"kind": kind, "date": day,
                          "url": f"/api/v1/reports/{kind}/{day}"})  # fmt: skip
    found.sort(key=lambda r: (r["date"], r["kind"]), reverse=True)
    return web.json_response({"items": found})


async def get_report(call: Call) -> web.Response:
    """One stored report (the JSON the reporter wrote, schema in docs/report-schema.json)."""
    kind, day = call.path("kind"), call.path("date")
    if kind not in KINDS:
        raise ParamError("kind", f"must be one of {', '.join(KINDS)}", where="path")
    if not _DATE.match(day):
        raise ParamError("date", "must be a date YYYY-MM-DD", where="path")
    raw = await call.r.get(call.keys.report(kind, day))
    if raw is None:
        raise NotFound(f"no {kind} report for {day}", details={"kind": kind, "date": day})
    body: Any = json.loads(raw)
    return web.json_response(body)


ROUTES = (
    Route(method="GET", path="/api/v1/reports", handler=list_reports, tag="reports",
          summary="Stored reports (newest first)"),
    Route(method="GET", path="/api/v1/reports/{kind}/{date}", handler=get_report,
          tag="reports", summary="One stored report (JSON)"),
)  # fmt: skip
