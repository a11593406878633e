"""The dashboard's page and assets (base URL written in, every module served, nothing
else readable), and the routes it reads: running runs, per-task trends, whoami.

That the assets ship in the wheel is checked by tests/deploy/test_dockerfile.py (every
tracked file under services/ is in the built wheel)."""

from __future__ import annotations

import re
import time

import pytest

from services.api.routes.dashboard import STATIC
from shared.config.loader import ConfigError, load_text
from shared.contract.codec import encode
from shared.contract.events import TaskResult
from shared.contract.keys import Keys
from shared.contract.readmodel import RunProgress
from shared.runtime.redis import Redis
from tests.api.support import running_api

TASKS = """
timezone: America/New_York
tasks:
  hc: {handler: system_health_check, schedule: {every: 5m}}
  tokyo:
    handler: command
    params: {argv: ['true']}
    schedule: {cron: '0 9 * * *', timezone: Asia/Tokyo}
"""
IMPORT = re.compile(r'from "\./([a-z]+\.js)"')


async def test_the_page_carries_the_base_url_and_the_default_zone(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys, TASKS, api="  base_url: /ops/wk\n") as api:
        status, page, headers = await api.call("GET", "/", role=None)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert '<meta name="wk-base" content="/ops/wk">' in page
    assert '<meta name="wk-timezone" content="America/New_York">' in page
    assert 'src="/ops/wk/static/main.js"' in page and 'href="/ops/wk/static/dash.css"' in page
    assert "{{" not in page
    assert "http://" not in page and "https://" not in page  # no CDN


async def test_every_module_the_page_imports_is_served(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys, TASKS) as api:
        seen, todo = set(), ["main.js"]
        while todo:
            name = todo.pop()
            status, source, headers = await api.call("GET", f"/static/{name}", role=None)
            assert (status, headers["Content-Type"]) == (200, "text/javascript"), name
            seen.add(name)
            todo += [m for m in IMPORT.findall(source) if m not in seen]
        status, css, headers = await api.call("GET", "/static/dash.css", role=None)
    assert (status, headers["Content-Type"]) == (200, "text/css") and "prefers-color-scheme" in css
    shipped = {p.name for p in STATIC.iterdir() if p.name.endswith(".js")}
    assert seen == shipped, "a script is neither imported nor needed"


@pytest.mark.parametrize(
    "name",
    ["index.html", "..%2Fstatic%2Fmain.js", "..%2Froutes%2Fdashboard.py", ".hidden.js", "nope.css",
     "main"],
)  # fmt: skip
async def test_nothing_but_the_assets_is_readable(r: Redis, keys: Keys, name: str) -> None:
    async with running_api(r, keys, TASKS) as api:
        status, body, _ = await api.call("GET", f"/static/{name}", role=None)
    assert status == 404
    assert body["error"]["code"] == "not_found"


def test_base_url_is_a_path_prefix_without_a_trailing_slash() -> None:
    assert load_text("api: {base_url: /a/b-c}", env={}).config.api.base_url == "/a/b-c"
    for bad in ("wk", "/wk/", "/a b", '/"><script>'):
        with pytest.raises(ConfigError, match="base_url"):
            load_text(f"api: {{base_url: '{bad}'}}", env={})


async def test_running_lists_held_runs_with_their_progress(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys, TASKS) as api:
        live = time.time() * 1000 + 600_000  # expiry in ms on Redis' clock
        await r.zadd(keys.running("hc"), {"hc:s1": live, "hc:s2": live + 1, "hc:s0": 1})
        progress = RunProgress(done=3, total=4, note="disks", updated_at=10.0, executor="ex-1")
        await r.hset(keys.run_progress("hc:s1"), mapping=progress.to_fields())  # type: ignore[arg-type]
        status, body, _ = await api.call("GET", "/api/v1/runs/running", role="viewer")
    assert status == 200
    assert body["items"] == [
        {"task": "hc", "run_id": "hc:s1", "progress": {"done": 3.0, "total": 4.0, "percent": None,
                                                        "note": "disks", "updated_at": 10.0}},
        {"task": "hc", "run_id": "hc:s2", "progress": None},
    ]  # fmt: skip


def _result(run_id: str, status: str, duration_s: float) -> TaskResult:
    return TaskResult(run_id=run_id, task="hc", handler="system_health_check", attempt=1,
                      trigger="schedule", scheduled_for=1.0, status=status, started_at=1.0,
                      finished_at=2.0, duration_s=duration_s, executor="ex-1")  # fmt: skip


async def test_trends_give_each_task_its_latest_results_oldest_first(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys, TASKS) as api:
        for i, status in enumerate(("failed", "succeeded", "skipped", "succeeded")):
            fields = encode(_result(f"hc:{i}", status, float(i)))
            await r.xadd(keys.task_history("hc"), fields)  # type: ignore[arg-type]
        await r.xadd(keys.task_history("hc"), {"type": "junk", "v": "9", "body": b"\xff"})
        status, body, _ = await api.call("GET", "/api/v1/runs/trends?per_task=4", role="viewer")
    assert status == 200
    assert body["tasks"]["tokyo"] == []
    assert [(p["run_id"], p["status"], p["duration_s"]) for p in body["tasks"]["hc"]] == [
        ("hc:1", "succeeded", 1.0), ("hc:2", "skipped", 2.0), ("hc:3", "succeeded", 3.0),
    ]  # the newest 4 entries, the undecodable one left out  # fmt: skip


async def test_whoami_names_the_token_and_role(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys, TASKS) as api:
        status, body, _ = await api.call("GET", "/api/v1/whoami", role="operator")
        assert (status, body) == (200, {"name": "operator", "role": "operator"})
    async with running_api(r, keys, TASKS, tokens=False) as api:
        status, body, _ = await api.call("GET", "/api/v1/whoami", role=None)
    assert (status, body) == (200, {"name": "local", "role": "admin"})


async def test_the_task_list_says_each_tasks_time_zone(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys, TASKS) as api:
        status, body, _ = await api.call("GET", "/api/v1/tasks", role="viewer")
    assert status == 200
    zones = {t["name"]: t["timezone"] for t in body["items"]}
    assert zones == {"hc": "America/New_York", "tokyo": "Asia/Tokyo"}
