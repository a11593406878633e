"""``watchkeeper up`` as a user runs it: a fresh embedded Redis, a trading stack
publishing a trigger with plain redis-py + msgpack, the result read back, SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import msgpack
import psutil
import pytest
import redis

from shared.runtime.embedded import free_port

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "watchkeeper.yml"


def _path_without_redis() -> str:
    """PATH minus every folder holding a redis/valkey server: as on a machine without Redis."""
    dirs = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(
        d for d in dirs if not any(Path(d, b).exists() for b in ("redis-server", "valkey-server"))
    )


def _wait(predicate: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if callable(predicate) and predicate():
                return
        except (redis.ConnectionError, OSError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"{what} within {timeout_s} s")


def _ready(api_port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/readyz", timeout=1) as resp:
        return bool(resp.status == 200)


@pytest.fixture
def running_up(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, int]]:
    redis_port, api_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "WATCHKEEPER_CONFIG")}
    env |= {
        "PATH": _path_without_redis(),
        "WATCHKEEPER_REDIS__EMBEDDED_PORT": str(redis_port),
        "WATCHKEEPER_API__PORT": str(api_port),
        "WATCHKEEPER_DATA_DIR": str(tmp_path / "data"),
    }
    assert shutil.which("redis-server", path=env["PATH"]) is None
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "up", "-c", str(EXAMPLE)],
        cwd=tmp_path, env=env | {"PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait(lambda: _ready(api_port), 20, "the API did not become ready")
        yield proc, redis_port, api_port
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def test_trigger_to_result_and_clean_sigterm(
    running_up: tuple[subprocess.Popen[bytes], int, int],
) -> None:
    proc, redis_port, api_port = running_up
    client = redis.Redis(port=redis_port)
    server_pid = int(client.info("server")["process_id"])
    body = msgpack.packb({"task": "system_health_check", "requested_by": "trading-stack"})
    entry_id = client.xadd(
        "maintenance:stream:triggers", {"type": "trigger.run", "v": "1", "body": body}
    )
    run_id = f"system_health_check:m{entry_id.decode()}"

    results: list[dict[str, object]] = []

    def result_arrived() -> bool:
        for _, fields in client.xrange("maintenance:stream:results"):
            results.append(msgpack.unpackb(fields[b"body"]))
        return any(r["run_id"] == run_id for r in results)

    _wait(result_arrived, 5, "no task.result")
    result = next(r for r in results if r["run_id"] == run_id)
    assert result["status"] == "succeeded"
    metrics = result["metrics"]
    assert isinstance(metrics, dict)
    assert 0 <= metrics["cpu_percent"] <= 100
    assert 0 < metrics["memory_percent"] < 100
    assert 0 < metrics["disk_percent"] < 100
    assert 0 <= metrics["health_score"] <= 100
    _wait(lambda: client.exists(f"maintenance:result:{run_id}"), 5, "no result hash")
    with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/api/v1/runs/{run_id}") as resp:
        assert b'"status": "succeeded"' in resp.read()
    client.close()

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    assert proc.stdout is not None
    output = proc.stdout.read().decode()
    assert f"redis://127.0.0.1:{redis_port}" in output
    assert (
        not psutil.pid_exists(server_pid)
        or psutil.Process(server_pid).status() == psutil.STATUS_ZOMBIE
    )
