"""Each service runs alone (`watchkeeper scheduler|executor|reporter|api`) on one Redis."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest
import redis

from shared.runtime.embedded import EmbeddedRedis, free_port
from tests.support.processes import cli_env, kill_all, spawn

SERVICES = ("scheduler", "executor", "reporter", "api")


@pytest.fixture
def four_processes(
    tmp_path: Path,
) -> Iterator[tuple[redis.Redis, int, list[subprocess.Popen[bytes]]]]:
    config = tmp_path / "wk.yml"
    config.write_text(
        "namespace: solo\n"
        "tasks:\n"
        "  hc: {handler: system_health_check, params: {cpu_sample_s: 0.1}}\n"
    )
    api_port = free_port()
    with EmbeddedRedis(tmp_path / "redis", port=None, appendonly=False) as server:
        env = cli_env(server.url, WATCHKEEPER_API__PORT=str(api_port))
        procs = [spawn(name, config, env=env, cwd=tmp_path) for name in SERVICES]
        client = redis.Redis.from_url(server.url)
        try:
            yield client, api_port, procs
        finally:
            kill_all(procs)
            client.close()


def _get(url: str) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return dict(json.loads(resp.read()))
    except (urllib.error.URLError, ConnectionError):
        return None


def _poll(fn: object, timeout_s: float) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = fn() if callable(fn) else None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"nothing within {timeout_s} s")


def _finished(view: object) -> object:
    return view if isinstance(view, dict) and view.get("status") not in (None, "running") else None


def test_trigger_flows_through_four_separate_processes(
    four_processes: tuple[redis.Redis, int, list[subprocess.Popen[bytes]]],
) -> None:
    client, api_port, procs = four_processes
    _poll(lambda: _get(f"http://127.0.0.1:{api_port}/readyz"), 20)
    _poll(lambda: client.hexists("solo:taskdefs", "hc"), 20)
    _poll(lambda: client.xinfo_groups("solo:stream:triggers"), 20)
    body = msgpack.packb({"task": "hc"})
    entry = client.xadd("solo:stream:triggers", {"type": "trigger.run", "v": "1", "body": body})
    run_id = f"hc:m{entry.decode()}"
    # The run is visible while it runs (its steps report progress): wait for it to finish.
    view = _poll(lambda: _finished(_get(f"http://127.0.0.1:{api_port}/api/v1/runs/{run_id}")), 20)
    assert isinstance(view, dict)
    assert view["status"] == "succeeded"
    assert str(view["executor"]).startswith("executor-")
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    assert [proc.wait(timeout=15) for proc in procs] == [0, 0, 0, 0]
