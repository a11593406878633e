"""Reports through the API: made on demand from the daily aggregates, stored, fetched in
every format (the same text as the golden files of the shared report code); a missing
report is a 404, a bad kind, format or date a 400 naming it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from shared.contract.keys import Keys
from shared.runtime.clock import FakeClock
from shared.runtime.redis import Redis
from tests.api.support import Api, running_api
from tests.reporter.report_history import NOW, config_body, record_history

GOLDEN = Path(__file__).parents[1] / "shared" / "reports" / "golden"


def _body(keys: Keys) -> str:
    settings = {k: v for k, v in config_body(keys.ns).items() if k != "namespace"}
    return yaml.safe_dump(settings)


async def _bad(api: Api, method: str, path: str, field: str, json_body: object = None) -> None:
    status, reply, _ = await api.call(method, path, json=json_body)
    assert (status, reply["error"]["code"]) == (400, "invalid_field"), reply
    assert reply["error"]["details"]["field"] == field


async def test_generate_then_fetch_each_format(r: Redis, keys: Keys) -> None:
    await record_history(r, keys)
    async with running_api(r, keys, _body(keys), clock=FakeClock(NOW.timestamp())) as api:
        status, made, _ = await api.call("POST", "/api/v1/reports/daily", role="operator")
        assert (status, made) == (201, {"kind": "daily", "date": "2026-03-10",
                                        "url": "/api/v1/reports/daily/2026-03-10"})  # fmt: skip
        for fmt, ctype in (("md", "text/markdown"), ("csv", "text/csv")):
            status, text, headers = await api.call("GET", f"{made['url']}?format={fmt}")
            assert (status, headers["Content-Type"].split(";")[0]) == (200, ctype)
            assert text == (GOLDEN / f"daily-2026-03-10.{fmt}").read_text(), fmt
        status, document, _ = await api.call("GET", made["url"] + "?format=json")
        golden = json.loads((GOLDEN / "daily-2026-03-10.json").read_text())
        assert (status, document) == (200, golden)
        status, page, headers = await api.call("GET", made["url"] + "?format=html")
        assert (status, headers["Content-Type"].split(";")[0]) == (200, "text/html")
        assert page.lstrip().lower().startswith("<!doctype html>") and "<svg" in page
        status, listed, _ = await api.call("GET", "/api/v1/reports")
        assert listed["items"] == [{"kind": "daily", "date": "2026-03-10", "url": made["url"]}]


async def test_made_now_without_storing_in_each_format(r: Redis, keys: Keys) -> None:
    await record_history(r, keys)
    async with running_api(r, keys, _body(keys), clock=FakeClock(NOW.timestamp())) as api:
        status, document, _ = await api.call("GET", "/api/v1/reports/daily", role="viewer")
        golden = json.loads((GOLDEN / "daily-2026-03-10.json").read_text())
        assert (status, document) == (200, golden)
        status, text, headers = await api.call("GET", "/api/v1/reports/daily?format=md")
        assert (status, headers["Content-Type"].split(";")[0]) == (200, "text/markdown")
        assert text == (GOLDEN / "daily-2026-03-10.md").read_text()
        _, weekly, _ = await api.call("GET", "/api/v1/reports/weekly?date=2026-03-15")
        assert (weekly["kind"], weekly["date"]) == ("weekly", "2026-03-15")
        _, listed, _ = await api.call("GET", "/api/v1/reports")
        assert listed["items"] == []  # nothing stored
        await _bad(api, "GET", "/api/v1/reports/daily?date=soon", "date")


async def test_a_weekly_report_for_a_given_date(r: Redis, keys: Keys) -> None:
    await record_history(r, keys)
    async with running_api(r, keys, _body(keys), clock=FakeClock(NOW.timestamp())) as api:
        status, made, _ = await api.call(
            "POST", "/api/v1/reports/weekly", role="operator", json={"date": "2026-03-15"}
        )
        assert (status, made["date"]) == (201, "2026-03-15")
        _, document, _ = await api.call("GET", made["url"])
        assert (document["kind"], document["period"]["first_day"]) == ("weekly", "2026-03-08")


async def test_missing_report_is_404(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys, _body(keys)) as api:
        status, reply, _ = await api.call("GET", "/api/v1/reports/daily/2026-03-10?format=md")
        assert (status, reply["error"]["code"]) == (404, "not_found")
        assert reply["error"]["message"] == "no daily report for 2026-03-10"


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/api/v1/reports/monthly", None, "kind"),
        ("POST", "/api/v1/reports/daily", {"date": "2026-13-01"}, "date"),
        ("GET", "/api/v1/reports/monthly/2026-03-10", None, "kind"),
        ("GET", "/api/v1/reports/daily/March", None, "date"),
        ("GET", "/api/v1/reports/daily/2026-03-10?format=pdf", None, "format"),
    ],
)
async def test_bad_kind_format_or_date_is_400(
    r: Redis, keys: Keys, method: str, path: str, body: object, field: str
) -> None:
    async with running_api(r, keys, _body(keys)) as api:
        await _bad(api, method, path, field, body)
    assert not await r.keys(f"{keys.ns}:reports:*")
