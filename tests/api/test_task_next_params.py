"""``GET /api/v1/tasks/{task}/next`` on a real aiohttp server: bad parameters are 400s
naming the parameter (never 500), and the default ``after`` comes from the app's clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from services.api.app import create_app, serve
from shared.config import taskdefs
from shared.config.loader import load_text
from shared.contract.keys import Keys
from shared.runtime.clock import FakeClock
from shared.runtime.embedded import free_port
from shared.runtime.redis import Redis

CLOCK_START = datetime(2026, 3, 4, 1, 30, tzinfo=UTC)


@pytest.fixture
async def api(r: Redis, keys: Keys) -> AsyncIterator[str]:
    """The API over a config with one cron task (02:00 UTC daily), on a fake clock."""
    config = load_text(
        f"namespace: {keys.ns}\n"
        "tasks:\n  nightly: {handler: system_health_check, schedule: {cron: '0 2 * * *'}}\n",
        env={},
    ).config
    await taskdefs.apply(r, keys, config)
    port = free_port()
    runner = await serve(create_app(r, config, FakeClock(CLOCK_START)), "127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}/api/v1/tasks/nightly/next"
    finally:
        await runner.cleanup()


async def _get(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, await resp.json()


async def test_unicode_digit_count_is_a_400_naming_count(api: str) -> None:
    status, body = await _get(f"{api}?count=%C2%B2")  # '²': isdigit() but not int()
    assert status == 400
    assert body["error"]["details"]["field"] == "count"
    assert "'count' must be a whole number from 1 to 500" in body["error"]["message"]


async def test_far_future_after_on_a_cron_task_is_a_400_naming_after(api: str) -> None:
    status, body = await _get(f"{api}?after=9999-12-31")
    assert status == 400
    assert body["error"]["details"]["field"] == "after"
    assert "outside the supported range" in body["error"]["message"]


async def test_default_after_comes_from_the_apps_clock(api: str) -> None:
    status, body = await _get(f"{api}?count=2")
    assert status == 200
    assert [f["utc"] for f in body["fires"]] == [
        "2026-03-04T02:00:00+00:00", "2026-03-05T02:00:00+00:00",
    ]  # fmt: skip


_VALUES = st.one_of(
    st.text(max_size=40),
    st.integers().map(str),
    st.datetimes().map(datetime.isoformat),
    st.sampled_from(["9999-12-31", "0001-01-01", "²", "1e3", "-1", "nan", "%FF", "%"]),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=st.lists(
        st.tuples(st.sampled_from(["count", "after", "tz", "x"]) | st.text(max_size=8), _VALUES),
        max_size=4,
    ),
    raw=st.booleans(),
)
async def test_no_query_string_reaches_a_500(
    api: str, params: list[tuple[str, str]], raw: bool
) -> None:
    quoted = "&".join(f"{k if raw else quote(k)}={v if raw else quote(v)}" for k, v in params)
    url = URL(f"{api}?{quoted}", encoded=raw)  # raw: sent exactly as generated
    async with aiohttp.ClientSession() as session:
        try:
            async with session.get(url) as resp:
                status = resp.status
        except (ValueError, aiohttp.ClientError):
            return  # not a sendable URL (a raw control character): nothing reached the API
    assert status < 500, str(url)
