"""The dashboard in headless Chromium, against the real API, scheduler, executor and
reporter on real Redis: a run triggered through the API appears live with its result,
pause from the page reaches Redis, the time-zone switch and URL filters work, and
screenshots (light and dark) are left in tmp/artifacts."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import NoReturn

import aiohttp
from aiohttp import web
from playwright.async_api import Page, expect

from services.executor.service import Executor
from services.reporter.alerting.store import AlertStore
from services.reporter.alerting.transition import Observation
from services.reporter.service import Reporter
from services.scheduler.service import Scheduler
from shared.config.models import Config
from shared.contract import alerts
from shared.contract.codec import decode
from shared.contract.events import TaskPaused
from shared.contract.keys import Keys
from shared.runtime.clock import SystemClock
from shared.runtime.embedded import free_port
from shared.runtime.redis import Redis
from tests.api.support import TOKENS, Api, running_api
from tests.executor.executor_support import wait_for
from tests.support.browser import ARTIFACTS, chromium

TASKS = """
timezone: UTC
executor:
  {{artifacts_dir: '{tmp}/artifacts', rollback_dir: '{tmp}/rollbacks', allowed_roots: ['{tmp}']}}
tasks:
  hc: {{handler: system_health_check, params: {{cpu_sample_s: 0.1}}, schedule: {{every: 1h}}}}
  echo:
    handler: command
    params: {{argv: ['true']}}
    schedule: {{cron: '0 9 * * *', timezone: Asia/Tokyo}}
  broken: {{handler: command, params: {{argv: ['false']}}}}
"""
WAIT_MS = 20_000


@asynccontextmanager
async def services(r: Redis, config: Config) -> AsyncIterator[None]:
    """Scheduler, executor and reporter in this process until the block ends."""
    stop = asyncio.Event()
    workers = [Scheduler(r, config), Executor(r, config), Reporter(r, config)]
    tasks = [asyncio.create_task(w.run(stop)) for w in workers]
    try:
        yield
    finally:
        stop.set()
        async with asyncio.timeout(30):
            await asyncio.gather(*tasks)


def _never() -> NoReturn:
    raise AssertionError("the alert is gone")


async def _run(api: Api, task: str) -> str:
    status, body, _ = await api.call("POST", "/api/v1/runs", role="operator", json={"task": task})
    assert status == 202, body
    return str(body["run_id"])


async def _sign_in(page: Page, url: str, token: str) -> None:
    await page.goto(url)
    await expect(page.locator("#notice")).to_contain_text("needs a bearer token")
    await page.click("#token-btn")
    await page.fill("#token-input", token)
    await page.press("#token-input", "Enter")  # "Use": stores it and reloads


async def _live(page: Page) -> None:
    await page.wait_for_selector('body[data-live="1"]', timeout=WAIT_MS)


async def _shoot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    await page.screenshot(path=str(path), full_page=True)
    print(f"dashboard screenshot: {path}")  # noqa: T201 - the artifact's path, for people
    return path


async def test_live_runs_pause_time_zones_and_url_filters(
    r: Redis, keys: Keys, tmp_path: Path
) -> None:
    body = TASKS.format(tmp=tmp_path)
    async with (
        running_api(r, keys, body, clock=SystemClock()) as api,
        services(r, api.config),
        chromium() as browser,
    ):
        page = await browser.new_page(viewport={"width": 1400, "height": 1000})
        await _sign_in(page, api.url + "/", TOKENS["operator"])
        await _live(page)
        await expect(page.locator("#who")).to_have_text("operator: operator")
        await page.evaluate("window.__sameDocument = true")

        # Runs requested through the API appear with their results, without a reload.
        failed, ok, health = [await _run(api, t) for t in ("broken", "echo", "hc")]
        for run_id, status in ((failed, "failed"), (ok, "succeeded"), (health, "succeeded")):
            row = page.locator(f'#history-table tr[data-run="{run_id}"]')
            await expect(row).to_have_attribute("data-status", status, timeout=WAIT_MS)
        assert await page.evaluate("window.__sameDocument") is True
        score = page.locator("#health-score .num")
        await expect(score).to_have_text(re.compile(r"^\d+$"), timeout=WAIT_MS)
        await expect(page.locator("#gauges svg.gauge")).to_have_count(3)
        # Failing tasks first; its strip shows the failure.
        first = page.locator("#task-table tbody tr").first
        await expect(first).to_have_attribute("data-task", "broken")
        await expect(first.locator(".spark .bar.bad")).to_have_count(1)

        # Pause asks for a reason; the scheduler records it in Redis; the row shows it.
        await page.click('#task-table tr[data-task="echo"] button[data-act="pause"]')
        await page.click("#pause-ok")  # no reason: the dialog stays open
        await expect(page.locator("#pause-dialog")).to_be_visible()
        await page.fill("#pause-reason", "vendor maintenance")
        await page.press("#pause-reason", "Enter")
        await wait_for(lambda: r.sismember(keys.schedule_paused, "echo"), WAIT_MS / 1000,
                       "the scheduler to record the pause")  # fmt: skip
        ((_, fields),) = await r.xrevrange(keys.control, count=1)
        paused = decode(fields)
        assert isinstance(paused, TaskPaused) and paused.reason == "vendor maintenance"
        echo = page.locator('#task-table tr[data-task="echo"]')
        await expect(echo).to_have_attribute("data-paused", "true", timeout=WAIT_MS)
        await expect(echo.locator("button[data-act=resume]")).to_be_visible()

        # The time-zone switch rewrites every time; it is kept in the URL.
        next_fire = echo.locator("td").nth(4).locator("time")
        await expect(next_fire).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d 00:00:00 UTC$"))
        await page.select_option("#tz", "task")
        await expect(next_fire).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d 09:00:00 Asia/Tokyo$"))
        assert "tz=task" in page.url

        # A history filter lives in the URL and survives a reload.
        await page.select_option("#history-status", "failed")
        await expect(page.locator("#history-table tbody tr")).to_have_count(1)
        assert "status=failed" in page.url
        await page.reload()
        await _live(page)
        await expect(page.locator("#history-status")).to_have_value("failed")
        await expect(page.locator("#tz")).to_have_value("task")
        rows = page.locator("#history-table tbody tr")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_have_attribute("data-run", failed)

        # An alert raised by the reporter's store appears live; acknowledge reaches Redis.
        store = AlertStore.of(r, keys, api.config.alerts)
        await store.raise_(Observation(key="system.disk", severity="critical", at=time.time(),
                                       title="disk / at 93%", message="above 90%"))  # fmt: skip
        alert = page.locator('#alerts-list li[data-key="system.disk"]')
        await expect(alert).to_contain_text("disk / at 93%", timeout=WAIT_MS)
        await alert.locator("button[data-alert=ack]").click()
        await expect(alert).to_contain_text("acked by api:operator", timeout=WAIT_MS)
        assert (await alerts.get(r, keys, "system.disk") or _never()).acked_by == "api:operator"

        await page.select_option("#history-status", "")
        await page.select_option("#tz", "utc")
        await expect(page.locator("#history-table tbody tr")).to_have_count(3)
        assert (await _shoot(page, "dashboard-light.png")).stat().st_size > 10_000
        await page.emulate_media(color_scheme="dark")
        background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(15, 20, 27)"  # --bg of the dark theme
        await _shoot(page, "dashboard-dark.png")


async def test_viewer_token_reads_but_cannot_act(r: Redis, keys: Keys, tmp_path: Path) -> None:
    body = TASKS.format(tmp=tmp_path)
    async with running_api(r, keys, body, clock=SystemClock()) as api, chromium() as browser:
        page = await browser.new_page()
        await _sign_in(page, api.url + "/", TOKENS["viewer"])
        await _live(page)
        await expect(page.locator("#who")).to_have_text("viewer: viewer mode")
        await expect(page.locator("#task-table tbody tr")).to_have_count(3)
        await expect(page.locator('tr[data-task="echo"] button[data-act="pause"]')).to_be_disabled()
        await expect(page.locator("button[data-bulk=run-all]")).to_be_disabled()


async def _forward(request: web.Request) -> web.StreamResponse:
    """The proxy: strip the prefix, pass method, token and body on, stream the answer."""
    upstream = request.app[UPSTREAM] + "/" + request.match_info["tail"]
    headers = {k: v for k, v in request.headers.items() if k in ("Authorization", "Content-Type")}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session,
        session.request(request.method, upstream, params=request.query, headers=headers,
                        data=await request.read()) as upstream_resp,
    ):  # fmt: skip
        ctype = upstream_resp.headers.get("Content-Type", "text/plain")
        resp = web.StreamResponse(status=upstream_resp.status, headers={"Content-Type": ctype})
        await resp.prepare(request)
        async for chunk in upstream_resp.content.iter_any():
            await resp.write(chunk)
        return resp


UPSTREAM: web.AppKey[str] = web.AppKey("upstream", str)


@asynccontextmanager
async def sub_path_proxy(upstream: str, prefix: str) -> AsyncIterator[str]:
    """A reverse proxy serving ``upstream`` under ``prefix``; yields its URL."""
    app = web.Application()
    app[UPSTREAM] = upstream
    app.router.add_route("*", prefix + "/{tail:.*}", _forward)
    port = free_port()
    # A proxied feed waits on the API, not on the browser: cancel it when the browser
    # goes, or shutdown waits for the API's next keepalive (15 s) to notice.
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}{prefix}/"
    finally:
        await runner.cleanup()


async def test_works_behind_a_sub_path_proxy(r: Redis, keys: Keys, tmp_path: Path) -> None:
    body = TASKS.format(tmp=tmp_path)
    async with (
        running_api(r, keys, body, clock=SystemClock(), api="  base_url: /ops/wk\n") as api,
        services(r, api.config),
        sub_path_proxy(api.url, "/ops/wk") as url,
        chromium() as browser,
    ):
        page = await browser.new_page()
        await _sign_in(page, url, TOKENS["operator"])
        await _live(page)  # the feed streams through the proxy
        await expect(page.locator("#task-table tbody tr")).to_have_count(3)
        run_id = await _run(api, "echo")
        row = page.locator(f'#history-table tr[data-run="{run_id}"]')
        await expect(row).to_have_attribute("data-status", "succeeded", timeout=WAIT_MS)
        await page.select_option("#history-status", "succeeded")
        assert page.url.startswith(url) and "status=succeeded" in page.url
